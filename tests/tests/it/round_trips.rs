//! Round trips per request, counted at the wire on moto (SDK interceptors) and at the partner
//! (wiremock): the create-credential goal is 1 KMS + 1 DynamoDB + 1 partner.

use cofre_tests::wiremock::matchers::method;
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, TestServer, credential_body, partners_at};

#[tokio::test]
async fn create_costs_one_kms_one_dynamodb_one_partner_call_and_replace_one_more_write() {
    let partner = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&partner).await;
    let stack = Stack::new(Backend::Aws).await;
    let settings = stack.partner_settings(Some(&partners_at(&partner.uri(), 2_000))).await;
    let server = TestServer::start(stack.vault(settings)).await;

    let mut previous = (stack.kms_trips.count(), stack.dynamodb_trips.count(), 0, stack.secrets_trips.count());
    let mut measure = || {
        let now = (stack.kms_trips.count(), stack.dynamodb_trips.count(), 0, stack.secrets_trips.count());
        let delta = (now.0 - previous.0, now.1 - previous.1, now.3 - previous.3);
        previous = now;
        delta
    };
    let partner_calls = || async { partner.received_requests().await.unwrap().len() };

    let created = server.post_credential("tenant-a", &credential_body("key-1", "BTG", "PIX"), "t").await;
    assert_eq!(created.status, 201);
    let (kms, dynamodb, secrets) = measure();
    assert_eq!((kms, dynamodb, partner_calls().await), (1, 1, 1), "create: KMS, DynamoDB, partner");
    assert_eq!(secrets, 1, "the first request of an execution environment reads the partner-config secret");

    let replaced = server.post_credential("tenant-a", &credential_body("key-2", "BTG", "PIX"), "t").await;
    assert_eq!(replaced.status, 200);
    let (kms, dynamodb, secrets) = measure();
    assert_eq!(
        (kms, dynamodb, partner_calls().await - 1),
        (1, 2, 1),
        "replace: the failed create returns the item (ALL_OLD), then one conditional replace"
    );
    assert_eq!(secrets, 0, "the secret is cached for the life of the execution environment");

    let created_other = server.post_credential("tenant-a", &credential_body("key-3", "CELCOIN", "BAAS"), "t").await;
    assert_eq!(created_other.status, 201);
    assert_eq!(measure(), (1, 1, 0));
    println!("round trips per request: create 1 KMS + 1 DynamoDB + 1 partner; replace 1 KMS + 2 DynamoDB + 1 partner");
}

#[tokio::test]
async fn a_rotation_costs_one_read_one_processor_call_one_data_key_and_one_conditional_write() {
    use cofre_tests::{merchant_fixture, processors_at};
    let processor = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    let stack = Stack::new(Backend::Aws).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), 2_000))).await;
    let server = TestServer::start_merchants(stack.connections(settings)).await;

    let operations = |trips: &cofre_tests::RoundTrips, from: usize| trips.operations()[from..].to_vec();
    let mark = || (stack.dynamodb_trips.count(), stack.kms_trips.count(), stack.secrets_trips.count());

    let before = mark();
    let rotate = r#"{"secret":"sk_new","existingCredentials":{"secret":"sk_old"}}"#;
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", rotate).await.status, 200);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem"]);
    assert_eq!(operations(&stack.kms_trips, before.1), ["GenerateDataKey"], "no Decrypt: nothing on file is opened");
    // The processor config, once per execution environment; the HMAC key was already read (and
    // cached) when the seeder, which shares the key source, fingerprinted the fixture.
    assert_eq!(operations(&stack.secrets_trips, before.2), ["GetSecretValue"]);
    assert_eq!(processor.received_requests().await.unwrap().len(), 1);

    let before = mark();
    assert_eq!(
        server.patch_connection("tenant-a", "mid_test_a", "midCon_affinipay", r#"{"secret":"s"}"#).await.status,
        200
    );
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem"]);
    assert_eq!(operations(&stack.kms_trips, before.1), ["GenerateDataKey"]);
    assert!(operations(&stack.secrets_trips, before.2).is_empty(), "cached");
    assert_eq!(processor.received_requests().await.unwrap().len(), 2);

    // Refusals stop early: a 409 costs the read and nothing else.
    let before = mark();
    let stale = r#"{"secret":"x","existingCredentials":{"secret":"sk_old"}}"#;
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", stale).await.status, 409);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem"]);
    assert!(operations(&stack.kms_trips, before.1).is_empty());
    assert_eq!(processor.received_requests().await.unwrap().len(), 2);
    println!("rotation: 1 GetItem + 1 processor call + 1 GenerateDataKey + 1 conditional UpdateItem; 409: 1 GetItem");
}

#[tokio::test]
async fn a_decision_costs_one_read_and_one_transactional_write_and_a_replay_one_read() {
    let stack = Stack::new(Backend::Aws).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    let operations = |from: usize| stack.dynamodb_trips.operations()[from..].to_vec();

    let mut body = cofre_tests::authorization_body(1001, "10.00");
    body["tracking_id"] = serde_json::json!("trips-1");
    let before = stack.dynamodb_trips.count();
    let first = server.authorize("tenant-a", None, &body).await;
    assert_eq!(first.body["status"], "APPROVED");
    assert_eq!(operations(before), ["BatchGetItem", "TransactWriteItems"], "decision by account_id");

    let before = stack.dynamodb_trips.count();
    assert_eq!(server.authorize("tenant-a", None, &body).await.text, first.text);
    assert_eq!(operations(before), ["BatchGetItem"], "a replay is one read");

    let before = stack.dynamodb_trips.count();
    let denied = server.authorize("tenant-a", None, &cofre_tests::authorization_body(1002, "1")).await;
    assert_eq!(denied.body["status"], "DENIED");
    assert_eq!(operations(before), ["BatchGetItem", "TransactWriteItems"], "a denial is recorded the same way");

    let id = first.body["authorization_id"].as_u64().unwrap();
    let before = stack.dynamodb_trips.count();
    let confirm =
        serde_json::json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": id });
    assert_eq!(server.authorize("tenant-a", None, &confirm).await.body["status"], "APPROVED");
    assert_eq!(
        operations(before),
        ["BatchGetItem", "BatchGetItem", "TransactWriteItems"],
        "confirmation: original, then its account"
    );

    let before = stack.dynamodb_trips.count();
    let by_card = serde_json::json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA", "card": { "stored_id": "tok_501" },
        "mode": "CREDIT", "entry_mode": "01", "processing_code": "003000" });
    assert_eq!(server.authorize("tenant-a", None, &by_card).await.body["status"], "APPROVED");
    assert_eq!(
        operations(before),
        ["BatchGetItem", "BatchGetItem", "TransactWriteItems"],
        "by card: lookup, then the account"
    );
    let before = stack.dynamodb_trips.count();
    let cancel =
        serde_json::json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "trips-1" });
    assert_eq!(server.authorize("tenant-a", None, &cancel).await.body["status"], "APPROVED");
    assert_eq!(
        operations(before),
        ["BatchGetItem", "BatchGetItem", "BatchGetItem", "TransactWriteItems"],
        "by original_tracking_id: its decision, the original, then its account"
    );
    println!(
        "decision: 1 BatchGetItem + 1 TransactWriteItems (account_id); replay: 1 BatchGetItem; by card/document/bank or original: +1 BatchGetItem"
    );
}

#[tokio::test]
async fn a_gateway_use_costs_one_read_and_opens_the_key_only_when_a_token_is_needed() {
    use cofre_tests::wiremock::matchers::path;
    use cofre_tests::{TestClock, gateway_partners_at};
    let partner = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"access_token":"t-1","expires_in":300}"#))
        .mount(&partner)
        .await;
    Mock::given(method("POST"))
        .and(path("/pix/v1/transfers"))
        .respond_with(ResponseTemplate::new(201).set_body_string("{}"))
        .mount(&partner)
        .await;
    let stack = Stack::new(Backend::Aws).await;
    let settings = stack.partner_settings(Some(&gateway_partners_at(&partner.uri(), 2_000))).await;
    let gateway = std::sync::Arc::new(stack.gateway(settings.clone(), std::sync::Arc::new(TestClock::default())));
    let server = TestServer::start_gateway(stack.vault(settings), gateway).await;
    let created = server.post_credential("tenant-a", &credential_body("key-1", "BTG", "PIX"), "t").await;
    let proxy = created.body["proxy"].as_str().unwrap().to_owned();

    let operations = |trips: &cofre_tests::RoundTrips, from: usize| trips.operations()[from..].to_vec();
    let calls = |on: &'static str| {
        let partner = &partner;
        async move { partner.received_requests().await.unwrap().iter().filter(|r| r.url.path() == on).count() }
    };
    let transfer = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers");
    for (label, decrypts, token_calls) in [("cold", vec!["Decrypt"], 1), ("warm", vec![], 0)] {
        let before = (stack.dynamodb_trips.count(), stack.kms_trips.count(), calls("/oauth2/token").await);
        let before_partner = calls("/pix/v1/transfers").await;
        assert_eq!(server.call("tenant-a", "POST", &transfer, "{}", &[]).await.status, 201);
        assert_eq!(
            operations(&stack.dynamodb_trips, before.0),
            ["Query", "TransactWriteItems", "PutItem"],
            "{label}: one read; the use recorded before the call (with last_used_at) and completed after"
        );
        assert_eq!(operations(&stack.kms_trips, before.1), decrypts, "{label}: KMS");
        assert_eq!(calls("/oauth2/token").await - before.2, token_calls, "{label}: partner token calls");
        assert_eq!(calls("/pix/v1/transfers").await - before_partner, 1, "{label}: partner calls");
    }
    println!(
        "round trips per use: cold 1 read + 2 writes + 1 Decrypt + 1 token + 1 call; warm 1 read + 2 writes + 1 call"
    );
}
