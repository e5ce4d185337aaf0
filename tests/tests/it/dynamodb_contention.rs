//! What moto cannot show: DynamoDB cancels transactions that overlap on an item
//! (`TransactionConflict`) instead of queueing them, so concurrent uses of one credential, each
//! touching its `last_used_at`, lose races on AWS; and it refuses a plain write to an item a
//! transaction holds (`TransactionConflictException`), so a replace can meet a use. A DynamoDB API
//! played by wiremock answers as AWS does, and the adapter must retry a lost race and still tell a
//! changed credential from a busy one.

use cofre_aws::DynamoCredentialStore;
use cofre_domain::credentials::{
    BeginUseError, CredentialSlot, CredentialStore, CredentialType, CredentialUse, CredentialWrite, Provider,
    ProxyValue, StoreError, StoredCredential, UseId, UseOutcome,
};
use cofre_domain::crypto::SealedValue;
use cofre_domain::items::credential_item::CredentialItem;
use cofre_domain::tenant::TenantId;
use cofre_tests::wiremock::matchers::{header, method};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use time::OffsetDateTime;

fn cancelled(first_reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).insert_header("content-type", "application/x-amz-json-1.0").set_body_json(
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": [{ "Code": first_reason }, { "Code": "None" }],
        }),
    )
}

async fn store_on(server: &MockServer) -> DynamoCredentialStore {
    let config =
        aws_sdk_dynamodb::config::Builder::from(&cofre_tests::moto_sdk_config()).endpoint_url(server.uri()).build();
    DynamoCredentialStore::new(aws_sdk_dynamodb::Client::from_conf(config), "cofre-contention")
}

fn pending_use() -> CredentialUse {
    let now = OffsetDateTime::now_utc();
    CredentialUse {
        id: UseId::new(now, 7),
        slot: CredentialSlot {
            tenant: TenantId::parse("tenant-a").unwrap(),
            provider: Provider::Btg,
            credential_type: CredentialType::Pix,
        },
        proxy: ProxyValue::parse("cfp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(),
        credential_version: 3,
        subject: "user-7".into(),
        method: "POST".into(),
        route: "/pix/v1/transfers".into(),
        tracking_id: "contention-1".into(),
        started_at: now,
        outcome: UseOutcome::Pending,
    }
}

#[tokio::test]
async fn a_use_that_lost_a_race_for_the_credential_item_is_retried_until_it_is_recorded() {
    let server = MockServer::start().await;
    let transact = || Mock::given(method("POST")).and(header("x-amz-target", "DynamoDB_20120810.TransactWriteItems"));
    transact().respond_with(cancelled("TransactionConflict")).up_to_n_times(3).mount(&server).await;
    transact().respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&server).await;
    store_on(&server).await.begin_use(&pending_use()).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 4, "three lost races, then recorded");
}

#[tokio::test]
async fn a_credential_that_changed_is_told_apart_from_a_busy_one() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(cancelled("ConditionalCheckFailed")).mount(&server).await;
    let outcome = store_on(&server).await.begin_use(&pending_use()).await;
    assert!(matches!(outcome, Err(BeginUseError::CredentialChanged)), "{outcome:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "a changed credential is not retried");
}

#[tokio::test]
async fn a_race_lost_every_time_ends_in_a_store_error_not_a_hang() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(cancelled("TransactionConflict")).mount(&server).await;
    let outcome = store_on(&server).await.begin_use(&pending_use()).await;
    assert!(matches!(outcome, Err(BeginUseError::Store(_))), "{outcome:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 9, "the first attempt and eight retries");
}

/// A DynamoDB error answer of type `error`.
fn refused(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).insert_header("content-type", "application/x-amz-json-1.0").set_body_json(
        serde_json::json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{error}"), "message": "refused" }),
    )
}

/// A value of an item's JSON as a DynamoDB attribute (strings, numbers and maps: all a credential
/// item holds).
fn wire(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::json!({ "S": s }),
        serde_json::Value::Number(n) => serde_json::json!({ "N": n.to_string() }),
        serde_json::Value::Object(m) => serde_json::json!({ "M": attributes(m) }),
        other => panic!("not in a credential item: {other:?}"),
    }
}

fn attributes(object: &serde_json::Map<String, serde_json::Value>) -> serde_json::Map<String, serde_json::Value> {
    object.iter().map(|(k, v)| (k.clone(), wire(v))).collect()
}

fn replace() -> CredentialWrite {
    CredentialWrite {
        slot: pending_use().slot,
        proxy: ProxyValue::parse("cfp_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").unwrap(),
        provider_data: [("client_id".to_owned(), "client-7".to_owned())].into(),
        sealed_key: SealedValue {
            key_id: "k".into(),
            wrapped_key: vec![7; 40],
            nonce: vec![7; 12],
            ciphertext: vec![7; 30],
        },
        at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        tracking_id: "replace-7".into(),
    }
}

/// The `UpdateItem` answer of `write` applied as version 5 (`ALL_NEW`).
fn written(write: &CredentialWrite) -> (StoredCredential, ResponseTemplate) {
    let stored = StoredCredential { version: 5, ..write.applied_to(None) };
    let item = serde_json::to_value(CredentialItem::from(&stored)).unwrap();
    let answer = ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .set_body_json(serde_json::json!({ "Attributes": attributes(item.as_object().unwrap()) }));
    (stored, answer)
}

#[tokio::test]
async fn a_replace_that_met_a_use_in_progress_is_retried_until_it_is_written() {
    let server = MockServer::start().await;
    let update = || Mock::given(method("POST")).and(header("x-amz-target", "DynamoDB_20120810.UpdateItem"));
    update().respond_with(refused("TransactionConflictException")).up_to_n_times(3).mount(&server).await;
    let (stored, answer) = written(&replace());
    update().respond_with(answer).mount(&server).await;
    assert_eq!(store_on(&server).await.put(&replace()).await.unwrap(), stored, "the item as written");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4, "three refusals, then written");
    let sent: serde_json::Value = serde_json::from_slice(&requests[3].body).unwrap();
    assert!(sent["UpdateExpression"].as_str().unwrap().ends_with("ADD #version :one"), "{sent}");
    assert_eq!(sent["ReturnValues"], "ALL_NEW", "the written item comes back in the same round trip");
}

#[tokio::test]
async fn a_replace_refused_every_time_ends_in_a_store_error_not_a_hang() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(refused("TransactionConflictException")).mount(&server).await;
    let outcome = store_on(&server).await.put(&replace()).await;
    assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 9, "the first attempt and eight retries");
}
