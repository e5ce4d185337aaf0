//! Round trips per request, counted at the wire on moto (SDK interceptors) and at the partner
//! (wiremock), of the use cases as the Lambdas build them: through `cofre_aws::wiring`, from their
//! settings, on clients that count. The create-credential goal is 1 KMS + 1 DynamoDB + 1 partner,
//! for a create and a replace alike.

use cofre_aws::wiring;
use cofre_domain::items::ledger_item::TRACKED_AUTHORIZATION;
use cofre_tests::wiremock::matchers::method;
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Reply, RoundTrips, Stack, TestServer, credential_body, partners_at};
use serde_json::{Value, json};

/// The secrets read since request `from`, by id, sorted.
fn secrets_read(trips: &RoundTrips, from: usize) -> Vec<String> {
    let mut ids: Vec<String> = trips.requests()[from..]
        .iter()
        .flat_map(|(operation, body)| match operation.as_str() {
            "GetSecretValue" => vec![body["SecretId"].as_str().unwrap_or_default().to_owned()],
            "BatchGetSecretValue" => {
                body["SecretIdList"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect()
            }
            other => panic!("secrets are only ever read, not {other}"),
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn create_and_replace_each_cost_one_kms_one_dynamodb_one_partner_call() {
    let partner = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&partner).await;
    let stack = Stack::new(Backend::Aws).await;
    let partner_secret = stack.secret(&partners_at(&partner.uri(), 2_000)).await;
    let vault = wiring::credential_vault(stack.aws_clients(), &stack.credential_settings(&partner_secret)).unwrap();
    let server = TestServer::start(vault).await;

    let mut previous = (stack.kms_trips.count(), stack.dynamodb_trips.count(), stack.secrets_trips.count());
    let mut measure = || {
        let now = (stack.kms_trips.count(), stack.dynamodb_trips.count(), stack.secrets_trips.count());
        let delta = (now.0 - previous.0, now.1 - previous.1, secrets_read(&stack.secrets_trips, previous.2));
        previous = now;
        delta
    };
    let partner_calls = || async { partner.received_requests().await.unwrap().len() };

    let writes = |from: usize| stack.dynamodb_trips.operations()[from..].to_vec();
    let mark = stack.dynamodb_trips.count();
    let created = server.post_credential("tenant-a", &credential_body("key-1", "BTG", "PIX"), "t").await;
    assert_eq!(created.status, 201);
    assert_eq!(writes(mark), ["UpdateItem"], "create: one conditional write, no read");
    let (kms, dynamodb, secrets) = measure();
    assert_eq!((kms, dynamodb, partner_calls().await), (1, 1, 1), "create: KMS, DynamoDB, partner");
    assert_eq!(secrets, [partner_secret.as_str()], "an execution environment's first request reads the partner config");

    let mark = stack.dynamodb_trips.count();
    let replaced = server.post_credential("tenant-a", &credential_body("key-2", "BTG", "PIX"), "t").await;
    assert_eq!((replaced.status, &replaced.body["replaced"]), (201, &serde_json::json!(true)));
    assert_eq!(writes(mark), ["UpdateItem"], "replace: the same one write, the version incremented in it");
    let (kms, dynamodb, secrets) = measure();
    assert_eq!((kms, dynamodb, partner_calls().await - 1), (1, 1, 1), "replace: KMS, DynamoDB, partner");
    assert!(secrets.is_empty(), "the secret is cached for the life of the execution environment");

    let created_other = server.post_credential("tenant-a", &credential_body("key-3", "CELCOIN", "BAAS"), "t").await;
    assert_eq!(created_other.status, 201);
    assert_eq!(measure(), (1, 1, vec![]));
    println!("round trips per request: create and replace each 1 KMS + 1 DynamoDB (UpdateItem) + 1 partner");
}

#[tokio::test]
async fn a_rotation_costs_one_read_one_processor_call_one_data_key_and_one_conditional_write() {
    use cofre_tests::{merchant_fixture, processors_at};
    let processor = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    let stack = Stack::new(Backend::Aws).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let processor_secret = stack.secret(&processors_at(&processor.uri(), 2_000)).await;
    // By ARN, as the template gives it (the batch's answer names each secret by ARN and by name).
    let secrets_client = aws_sdk_secretsmanager::Client::new(&cofre_tests::moto_sdk_config());
    let described = secrets_client.describe_secret().secret_id(&processor_secret).send().await.unwrap();
    let processor_secret = described.arn().unwrap().to_owned();
    let settings = stack.merchant_settings(&processor_secret);
    let server =
        TestServer::start_merchants(wiring::merchant_connections(stack.aws_clients(), &settings).unwrap()).await;

    let operations = |trips: &RoundTrips, from: usize| trips.operations()[from..].to_vec();
    let mark = || (stack.dynamodb_trips.count(), stack.kms_trips.count(), stack.secrets_trips.count());

    let before = mark();
    let rotate = r#"{"secret":"sk_new","existingCredentials":{"secret":"sk_old"}}"#;
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", rotate).await.status, 200);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem"]);
    assert_eq!(operations(&stack.kms_trips, before.1), ["GenerateDataKey"], "no Decrypt: nothing on file is opened");
    // An execution environment's first rotation reads its two secrets in one call, each once.
    let mut both = vec![settings.hmac_key_secret.clone(), processor_secret.clone()];
    both.sort();
    assert_eq!(secrets_read(&stack.secrets_trips, before.2), both, "the HMAC key and the processor config, once each");
    assert_eq!(operations(&stack.secrets_trips, before.2), ["BatchGetSecretValue"], "together");
    assert_eq!(processor.received_requests().await.unwrap().len(), 1);

    let before = mark();
    assert_eq!(
        server.patch_connection("tenant-a", "mid_test_a", "midCon_affinipay", r#"{"secret":"s"}"#).await.status,
        200
    );
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem"]);
    assert_eq!(operations(&stack.kms_trips, before.1), ["GenerateDataKey"]);
    assert!(secrets_read(&stack.secrets_trips, before.2).is_empty(), "both cached");
    assert_eq!(processor.received_requests().await.unwrap().len(), 2);

    // Refusals stop early: a failed proof costs the read and the write that counts it.
    let before = mark();
    let stale = r#"{"secret":"x","existingCredentials":{"secret":"sk_old"}}"#;
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", stale).await.status, 409);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem"], "the failure is counted");
    assert!(operations(&stack.kms_trips, before.1).is_empty());
    assert!(secrets_read(&stack.secrets_trips, before.2).is_empty());
    assert_eq!(processor.received_requests().await.unwrap().len(), 2);
    // Once a proof has failed, the next is recorded as failed before it is compared; a success resets
    // the count: two writes more than an unguarded rotation.
    let before = mark();
    let rotate_again = r#"{"secret":"sk_newer","existingCredentials":{"secret":"sk_new"}}"#;
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", rotate_again).await.status, 200);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem", "UpdateItem", "UpdateItem"]);
    // A 400 before any comparison (nothing on file) costs the read alone.
    let before = mark();
    let missing = r#"{"key":"k"}"#;
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_anet", missing).await.status, 400);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem"]);
    // A request answered as done (what it asks for is on file) writes nothing, unless the fingerprint
    // on file was made with another HMAC key than the current one: then one write re-keys it.
    let resend =
        r#"{"secret":"cp_pass","existingCredentials":{"key":"cp_user","secret":"cp_pass","mid":"496160873888"}}"#;
    let before = mark();
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_full", resend).await.status, 200);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem"], "answered as done: the read alone");
    let rotation = stack.hmac_rotation();
    let added = rotation.add(cofre_domain::secret::SecretBytes::new(vec![3; 32])).await.unwrap();
    rotation.make_current(&added).await.unwrap();
    let server =
        TestServer::start_merchants(wiring::merchant_connections(stack.aws_clients(), &settings).unwrap()).await;
    let before = mark();
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_full", resend).await.status, 200);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem", "UpdateItem"], "the fingerprint re-keyed");
    assert!(operations(&stack.kms_trips, before.1).is_empty(), "no Decrypt, no data key");
    let before = mark();
    assert_eq!(server.patch_connection("tenant-a", "mid_test_a", "midCon_full", resend).await.status, 200);
    assert_eq!(operations(&stack.dynamodb_trips, before.0), ["GetItem"], "once re-keyed, the read alone again");
    assert_eq!(processor.received_requests().await.unwrap().len(), 3, "no processor call for any of them");
    println!(
        "rotation: 1 GetItem + 1 processor call + 1 GenerateDataKey + 1 conditional UpdateItem (+ 1 \
         BatchGetSecretValue of both secrets, on the first); failed proof: 1 GetItem + 1 UpdateItem; after a failed proof, a \
         rotation: + 2 UpdateItem (count, reset)"
    );
}

#[tokio::test]
async fn a_secret_the_joint_read_does_not_return_is_read_on_its_own_until_it_exists() {
    use cofre_tests::{merchant_fixture, processors_at};
    let processor = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    let stack = Stack::new(Backend::Aws).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let missing = format!("cofre-test-{}", uuid::Uuid::new_v4().simple());
    let settings = stack.merchant_settings(&missing);
    let server =
        TestServer::start_merchants(wiring::merchant_connections(stack.aws_clients(), &settings).unwrap()).await;
    let stored = || stack.stored_connection("tenant-a", "mid_test_a", "midCon_affinipay");
    let before_any = stored().await;
    let secrets = |from: usize| stack.secrets_trips.operations()[from..].to_vec();

    let from = stack.secrets_trips.count();
    let refused = server.patch_connection("tenant-a", "mid_test_a", "midCon_affinipay", r#"{"secret":"s"}"#).await;
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(refused.body["message"], "Internal server error. No updates have been made.", "{}", refused.body);
    assert_eq!(secrets(from), ["BatchGetSecretValue", "GetSecretValue"], "the missing one, again on its own");
    assert_eq!(stack.secrets_trips.requests()[from + 1].1["SecretId"], missing.as_str());
    assert_eq!(stored().await, before_any, "nothing written");
    assert!(processor.received_requests().await.unwrap().is_empty());

    let client = aws_sdk_secretsmanager::Client::new(&cofre_tests::moto_sdk_config());
    client.create_secret().name(&missing).secret_string(processors_at(&processor.uri(), 2_000)).send().await.unwrap();
    let from = stack.secrets_trips.count();
    let rotated = server.patch_connection("tenant-a", "mid_test_a", "midCon_affinipay", r#"{"secret":"s"}"#).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(secrets(from), ["GetSecretValue"], "the HMAC key was kept from the joint read; the other read now");
}

/// `body` as tenant-a: the reply, the DynamoDB operations it cost, and the secrets it read.
async fn measured(stack: &Stack, server: &TestServer, body: &Value) -> (Reply, Vec<String>, Vec<String>) {
    measured_with(stack, server, None, body).await
}

/// [`measured`], with `scope` in the token.
async fn measured_with(
    stack: &Stack,
    server: &TestServer,
    scope: Option<&str>,
    body: &Value,
) -> (Reply, Vec<String>, Vec<String>) {
    let before = (stack.dynamodb_trips.count(), stack.secrets_trips.count());
    let reply = server.authorize("tenant-a", scope, body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    (reply, stack.dynamodb_trips.operations()[before.0..].to_vec(), secrets_read(&stack.secrets_trips, before.1))
}

/// The reason ORIGINAL_AUTHORIZATION gave.
fn result_reason(reply: &Reply) -> &str {
    let results = reply.body["validation_results"].as_array().unwrap();
    results.iter().find(|r| r["name"] == "ORIGINAL_AUTHORIZATION").unwrap()["reason"].as_str().unwrap()
}

fn settlement(mti: &str, original: (&str, Value), extra: Value) -> Value {
    let mut body = json!({ "mti": mti, "currency": "BRL", "network": "VISA" });
    body[original.0] = original.1;
    for (name, value) in extra.as_object().into_iter().flatten() {
        body[name] = value.clone();
    }
    body
}

#[tokio::test]
async fn a_decision_or_a_settlement_costs_one_read_and_one_transactional_write_and_a_replay_one_read() {
    let stack = Stack::new(Backend::Aws).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let authorizer = wiring::authorizer(stack.aws_clients(), &stack.authorization_settings());
    let server = TestServer::start_authorizations(authorizer).await;
    let one_write = ["BatchGetItem", "TransactWriteItems"];
    let by_tracking = |t: &str| ("original_tracking_id", json!(t));

    let mut body = cofre_tests::authorization_body(1001, "10.00");
    body["tracking_id"] = json!("trips-1");
    let (first, operations, secrets) = measured(&stack, &server, &body).await;
    assert_eq!(first.body["status"], "APPROVED");
    assert_eq!(operations, one_write, "decision by account_id");
    assert_eq!(secrets, [stack.hmac_secret.clone().unwrap()], "an execution environment's first request reads the key");

    let (replay, operations, secrets) = measured(&stack, &server, &body).await;
    assert_eq!(replay.text, first.text);
    assert_eq!((operations, secrets), (vec!["BatchGetItem".to_owned()], vec![]), "a replay is one read; key cached");

    let (denied, operations, _) = measured(&stack, &server, &cofre_tests::authorization_body(1002, "1")).await;
    assert_eq!(denied.body["status"], "DENIED");
    assert_eq!(operations, one_write, "a denial is recorded the same way");

    // A settlement takes its account from its original: the original is all it reads, with the new
    // tracking_id, by either name.
    let id = first.body["authorization_id"].as_u64().unwrap();
    let confirm = settlement("0202", ("original_authorization_id", json!(id)), json!({ "amount": 6 }));
    let (confirmed, operations, _) = measured(&stack, &server, &confirm).await;
    assert_eq!(confirmed.body["status"], "APPROVED");
    assert_eq!(operations, one_write, "confirmation by original_authorization_id");

    let by_card = json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA", "card": { "stored_id": "tok_501" },
        "mode": "CREDIT", "entry_mode": "01", "processing_code": "003000" });
    let (reply, operations, _) = measured(&stack, &server, &by_card).await;
    assert_eq!(reply.body["status"], "APPROVED");
    assert_eq!(operations, ["BatchGetItem", "BatchGetItem", "TransactWriteItems"], "by card: lookup, then the account");

    // The confirmation (by id) kept the copy its original's tracking record holds current: read here.
    let cancel = settlement("0400", by_tracking("trips-1"), json!({ "amount": 2, "tracking_id": "trips-cancel" }));
    let (cancelled, operations, _) = measured(&stack, &server, &cancel).await;
    assert_eq!(
        (cancelled.body["status"].as_str(), cancelled.body["original_authorization_id"].as_u64()),
        (Some("APPROVED"), Some(id))
    );
    assert_eq!(operations, one_write, "cancellation by original_tracking_id");
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0402", by_tracking("trips-cancel"), json!({}))).await;
    assert_eq!(reply.body["status"], "APPROVED");
    assert_eq!(operations, one_write, "a cancellation's confirmation by original_tracking_id");
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0400", by_tracking("trips-1"), json!({}))).await;
    assert_eq!((reply.body["status"].as_str(), reply.body["amount"].as_f64()), (Some("APPROVED"), Some(4.0)));
    assert_eq!(operations, one_write, "the rest cancelled");

    // Nothing can act on it any more, so no copy is kept: the refusal reads it by id.
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0400", by_tracking("trips-1"), json!({}))).await;
    assert_eq!((reply.body["status"].as_str(), reply.body["denial_code"].as_str()), (Some("DENIED"), Some("OWS")));
    assert_eq!(operations, ["BatchGetItem", "BatchGetItem", "TransactWriteItems"], "settled: its decision, then it");
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0202", by_tracking("never-used"), json!({}))).await;
    assert_eq!(reply.body["denial_code"], "ONF");
    assert_eq!(operations, one_write, "an unknown original");

    // A tracking record written before copies were kept is read the old way, once: the next change
    // to its authorization writes the copy.
    let mut hold = cofre_tests::authorization_body(1001, "5.00");
    hold["tracking_id"] = json!("trips-old");
    assert_eq!(measured(&stack, &server, &hold).await.0.body["status"], "APPROVED");
    let (client, _) = stack.dynamodb.as_ref().unwrap();
    let (ledger, _) = stack.ledger_tables.as_ref().unwrap();
    let key = |sk: &str| {
        [("pk", "TENANT#tenant-a"), ("sk", sk)]
            .map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())))
    };
    let stored =
        client.get_item().table_name(ledger).set_key(Some(key("TRACK#trips-old").into())).send().await.unwrap();
    assert!(stored.item().unwrap().contains_key(TRACKED_AUTHORIZATION), "a settleable decision keeps its copy");
    client
        .update_item()
        .table_name(ledger)
        .set_key(Some(key("TRACK#trips-old").into()))
        .update_expression("REMOVE #copy")
        .expression_attribute_names("#copy", TRACKED_AUTHORIZATION)
        .send()
        .await
        .unwrap();
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0202", by_tracking("trips-old"), json!({ "amount": 3 }))).await;
    assert_eq!(reply.body["status"], "APPROVED");
    assert_eq!(
        operations,
        ["BatchGetItem", "BatchGetItem", "TransactWriteItems"],
        "an old record: its decision, then it"
    );
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0400", by_tracking("trips-old"), json!({}))).await;
    assert_eq!((reply.body["status"].as_str(), reply.body["amount"].as_f64()), (Some("APPROVED"), Some(3.0)));
    assert_eq!(operations, one_write, "the confirmation wrote the copy");

    // A forced confirmation reads its account's settings with the account (the same item): what any
    // decision by account_id costs, its original named or not; by card, the lookup first.
    let mut forcing = cofre_tests::account_fixture()[0].clone();
    forcing["account_id"] = json!(3001);
    forcing["document_number"] = json!("77777777777");
    forcing["force_original_authorization"] = json!(true);
    forcing["cards"] = json!([{ "id": 601, "pan": "4000000000000044", "stored_id": "tok_601", "status": "NORMAL",
        "expiry": "2030-12", "mode": "COMBO" }]);
    forcing.as_object_mut().unwrap().remove("bank");
    assert_eq!(stack.seed_accounts(&[forcing]).await, (1, 0));
    let scope = Some("authorizations:override");
    let forced = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "account_id": 3001, "amount": 2,
        "processing_code": "003000" });
    let (reply, operations, _) = measured_with(&stack, &server, scope, &forced).await;
    assert_eq!(result_reason(&reply), "FORCED_CONFIRMATION", "{}", reply.text);
    assert_eq!(operations, one_write, "a forced confirmation naming no original");
    let mut lost = forced.clone();
    lost["original_tracking_id"] = json!("never-held");
    let (reply, operations, _) = measured_with(&stack, &server, scope, &lost).await;
    assert_eq!(result_reason(&reply), "FORCED_CONFIRMATION", "{}", reply.text);
    assert_eq!(operations, one_write, "a forced confirmation whose original is not found");
    let mut by_card = lost.clone();
    by_card["original_tracking_id"] = json!("never-held-either");
    by_card.as_object_mut().unwrap().remove("account_id");
    by_card["card"] = json!({ "stored_id": "tok_601" });
    let (reply, operations, _) = measured_with(&stack, &server, scope, &by_card).await;
    assert_eq!(result_reason(&reply), "FORCED_CONFIRMATION", "{}", reply.text);
    assert_eq!(operations, ["BatchGetItem", "BatchGetItem", "TransactWriteItems"], "forced, by card");
    assert_eq!(stack.account("tenant-a", 3001).await.available, 100_000 - 600);

    // Advices cost what the request they report costs: a 0120 a 0100's (beyond the limit too), a 0420 a
    // 0400's; one whose original is unknown, or has nothing left, no more; a replay one read.
    let mut advice = cofre_tests::authorization_body(1003, "150.00");
    (advice["mti"], advice["tracking_id"]) = (json!("0120"), json!("trips-advice"));
    let (reply, operations, _) = measured(&stack, &server, &advice).await;
    assert_eq!((reply.body["status"].as_str(), reply.body["response_code"].as_str()), (Some("APPROVED"), Some("00")));
    assert_eq!(operations, one_write, "an authorization advice by account_id, overdrawing");
    let (replay, operations, _) = measured(&stack, &server, &advice).await;
    assert_eq!((replay.text.as_str(), operations), (reply.text.as_str(), vec!["BatchGetItem".to_owned()]));
    let (read, operations, _) =
        measured_read(&stack, &server, "tenant-a", "/payment-methods/v1/authorizations/by-tracking-id/trips-advice")
            .await;
    assert_eq!((read.status, operations), (200, vec!["BatchGetItem".to_owned()]), "read back as a held 0100 is");
    let reverse = settlement("0420", by_tracking("trips-advice"), json!({ "amount": 50 }));
    let (reply, operations, _) = measured(&stack, &server, &reverse).await;
    assert_eq!(reply.body["amount"].as_f64(), Some(50.0));
    assert_eq!(operations, one_write, "a reversal advice by original_tracking_id");
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0420", by_tracking("trips-advice"), json!({}))).await;
    assert_eq!(reply.body["amount"].as_f64(), Some(100.0));
    assert_eq!(operations, one_write, "the rest reversed");
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0420", by_tracking("trips-advice"), json!({}))).await;
    assert_eq!((reply.body["status"].as_str(), reply.body["amount"].as_f64()), (Some("APPROVED"), Some(0.0)));
    assert_eq!(
        operations,
        ["BatchGetItem", "BatchGetItem", "TransactWriteItems"],
        "nothing left: its decision, then it"
    );
    let (reply, operations, _) =
        measured(&stack, &server, &settlement("0420", by_tracking("never-advised"), json!({ "amount": 1 }))).await;
    assert_eq!((reply.body["status"].as_str(), reply.body["amount"].as_f64()), (Some("APPROVED"), Some(0.0)));
    assert_eq!(operations, one_write, "a reversal advice of an unknown original");
    assert_eq!(stack.account("tenant-a", 1003).await.available, 10_000, "all of the advice back");

    // 1000.00, less the card's 1.00 hold: every other amount was released or cancelled.
    assert_eq!(stack.account("tenant-a", 1001).await.available, 99_900);
    println!(
        "decision: 1 BatchGetItem + 1 TransactWriteItems (by account_id; 0202/0400/0402/0420 by original_authorization_id \
         or original_tracking_id; a forced 0202 by account_id; a 0120 by account_id; a 0420 of an unknown original); \
         replay: 1 BatchGetItem; by card/document/bank: +1 BatchGetItem"
    );
}

/// `GET path` as `tenant`: the reply, the DynamoDB operations it cost, and the secrets it read.
async fn measured_read(
    stack: &Stack,
    server: &TestServer,
    tenant: &str,
    path: &str,
) -> (Reply, Vec<String>, Vec<String>) {
    let before = (stack.dynamodb_trips.count(), stack.secrets_trips.count());
    let reply = server.call(tenant, "GET", path, "", &[]).await;
    (reply, stack.dynamodb_trips.operations()[before.0..].to_vec(), secrets_read(&stack.secrets_trips, before.1))
}

#[tokio::test]
async fn a_read_back_costs_one_read_and_by_tracking_id_of_a_settled_authorization_two() {
    let stack = Stack::new(Backend::Aws).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let authorizer = wiring::authorizer(stack.aws_clients(), &stack.authorization_settings());
    let server = TestServer::start_authorizations(authorizer).await;
    let one_read = vec!["BatchGetItem".to_owned()];

    let mut body = cofre_tests::authorization_body(1001, "10.00");
    body["tracking_id"] = json!("read-1");
    let (auth, ..) = measured(&stack, &server, &body).await;
    let id = auth.body["authorization_id"].as_u64().unwrap();
    let by_id = format!("/payment-methods/v1/authorizations/{id}");
    let by_tracking = "/payment-methods/v1/authorizations/by-tracking-id/read-1";

    let (reply, operations, secrets) = measured_read(&stack, &server, "tenant-a", &by_id).await;
    assert_eq!((reply.status, operations, secrets), (200, one_read.clone(), vec![]), "by id: no key, one read");
    let (reply, operations, _) = measured_read(&stack, &server, "tenant-a", by_tracking).await;
    assert_eq!((reply.status, operations), (200, one_read.clone()), "by tracking_id, while it can be settled");
    let (reply, operations, _) =
        measured_read(&stack, &server, "tenant-a", "/payment-methods/v1/accounts/1001/balance").await;
    assert_eq!((reply.status, operations), (200, one_read.clone()), "an account's balance");

    // Settled with a history: still one read by id; by tracking_id its decision, then it.
    let confirm = settlement("0202", ("original_tracking_id", json!("read-1")), json!({ "amount": 6 }));
    assert_eq!(measured(&stack, &server, &confirm).await.1, ["BatchGetItem", "TransactWriteItems"], "unchanged");
    let (reply, operations, _) = measured_read(&stack, &server, "tenant-a", by_tracking).await;
    assert_eq!((reply.status, operations), (200, one_read.clone()), "confirmed, still cancellable");
    let cancel = settlement("0400", ("original_tracking_id", json!("read-1")), json!({}));
    assert_eq!(measured(&stack, &server, &cancel).await.1, ["BatchGetItem", "TransactWriteItems"], "unchanged");
    let (reply, operations, _) = measured_read(&stack, &server, "tenant-a", &by_id).await;
    assert_eq!((reply.status, reply.body["history"].as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(operations, one_read, "by id, whatever its state");
    let (reply, operations, _) = measured_read(&stack, &server, "tenant-a", by_tracking).await;
    assert_eq!(reply.status, 200);
    assert_eq!(operations, ["BatchGetItem", "BatchGetItem"], "by tracking_id once nothing can act on it");

    // Not found (another tenant's, or nobody's): one read; malformed: none.
    for (tenant, path) in [
        ("tenant-b", by_id.as_str()),
        ("tenant-b", by_tracking),
        ("tenant-b", "/payment-methods/v1/accounts/1001/balance"),
        ("tenant-a", "/payment-methods/v1/authorizations/1"),
    ] {
        let (reply, operations, _) = measured_read(&stack, &server, tenant, path).await;
        assert_eq!((reply.status, operations), (404, one_read.clone()), "{tenant} {path}");
    }
    let (reply, operations, _) =
        measured_read(&stack, &server, "tenant-a", "/payment-methods/v1/authorizations/0").await;
    assert_eq!((reply.status, operations), (400, vec![]), "a malformed id reads nothing");
    println!(
        "read back: by id 1 BatchGetItem; by tracking_id 1 BatchGetItem while a settlement can act on it, else 2; \
         balance 1 BatchGetItem; no secret"
    );
}

/// The round trips of one gateway use: (DynamoDB operations, KMS operations, partner token calls,
/// partner calls, secrets read).
type UseTrips = (Vec<String>, Vec<String>, usize, usize, Vec<String>);

#[tokio::test]
async fn a_gateway_use_reads_the_store_only_when_cold_and_opens_the_key_only_when_a_token_is_needed() {
    use cofre_tests::gateway_partners_at;
    use cofre_tests::wiremock::matchers::path;
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
    let partner_secret = stack.secret(&gateway_partners_at(&partner.uri(), 2_000)).await;
    let settings = stack.credential_settings(&partner_secret);
    // Two execution environments over the same tables: the measured one, and another that replaces
    // and revokes behind its back.
    let start = || async {
        let gateway = std::sync::Arc::new(wiring::partner_gateway(stack.aws_clients(), &settings).unwrap());
        let vault = wiring::credential_vault(stack.aws_clients(), &settings).unwrap();
        (TestServer::start_gateway(vault, std::sync::Arc::clone(&gateway)).await, gateway)
    };
    let ((server, gateway), (elsewhere, _)) = (start().await, start().await);
    let created = server.post_credential("tenant-a", &credential_body("key-1", "BTG", "PIX"), "t").await;
    let proxy = created.body["proxy"].as_str().unwrap().to_owned();

    let operations = |trips: &RoundTrips, from: usize| trips.operations()[from..].to_vec();
    let calls = |on: &'static str| {
        let partner = &partner;
        async move { partner.received_requests().await.unwrap().iter().filter(|r| r.url.path() == on).count() }
    };
    let transfer = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers");
    let refused = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/refunds");
    let measured = |path: &str, status: u16| {
        let (server, stack, path) = (&server, &stack, path.to_owned());
        async move {
            let before = (stack.dynamodb_trips.count(), stack.kms_trips.count(), stack.secrets_trips.count());
            let partner_before = (calls("/oauth2/token").await, calls("/pix/v1/transfers").await);
            let reply = server.call("tenant-a", "POST", &path, "{}", &[]).await;
            assert_eq!(reply.status, status, "{reply:?}");
            let trips: UseTrips = (
                operations(&stack.dynamodb_trips, before.0),
                operations(&stack.kms_trips, before.1),
                calls("/oauth2/token").await - partner_before.0,
                calls("/pix/v1/transfers").await - partner_before.1,
                secrets_read(&stack.secrets_trips, before.2),
            );
            trips
        }
    };
    let measured_use = |status: u16| measured(&transfer, status);
    let strings = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let one_use = strings(&["TransactWriteItems", "PutItem"]);

    // Cold: one read; the use recorded before the call (with last_used_at) and completed after.
    let (dynamodb, kms, tokens, partner_calls, secrets) = measured_use(201).await;
    assert_eq!(dynamodb, strings(&["Query", "TransactWriteItems", "PutItem"]), "cold: DynamoDB");
    assert_eq!((kms, tokens, partner_calls), (strings(&["Decrypt"]), 1, 1), "cold: KMS, token calls, partner calls");
    assert_eq!(secrets, [partner_secret.as_str()], "cold: the partner config, once per execution environment");

    // Warm: no read; the conditional write proves the credential is still at the cached version.
    assert_eq!(measured_use(201).await, (one_use.clone(), vec![], 0, 1, vec![]), "warm");
    assert_eq!(measured_use(201).await, (one_use.clone(), vec![], 0, 1, vec![]), "warm again");
    // A call the allowlist refuses reads once even when warm, so a revoked proxy is still a 404 first.
    assert_eq!(measured(&refused, 403).await, (strings(&["Query"]), vec![], 0, 0, vec![]), "warm, refused");

    // Replaced elsewhere: the condition fails, one read finds version 2, whose key is opened.
    let replaced = elsewhere.post_credential("tenant-a", &credential_body("key-2", "BTG", "PIX"), "t").await;
    assert_eq!(replaced.status, 201, "{replaced:?}");
    let replaced_use = strings(&["TransactWriteItems", "Query", "TransactWriteItems", "PutItem"]);
    assert_eq!(measured_use(201).await, (replaced_use, strings(&["Decrypt"]), 1, 1, vec![]), "replaced elsewhere");
    assert_eq!(measured_use(201).await, (one_use, vec![], 0, 1, vec![]), "warm on version 2");

    // Revoked elsewhere: the condition fails, one read finds nothing: 404, no partner call.
    let revoked = elsewhere.call("tenant-a", "DELETE", &format!("/banking-auth/v1/credentials/{proxy}"), "", &[]).await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    let failed_then_read = strings(&["TransactWriteItems", "Query"]);
    assert_eq!(measured_use(404).await, (failed_then_read, vec![], 0, 0, vec![]), "revoked elsewhere");
    assert!(gateway.sessions().is_empty(), "the revoked credential's token is dropped");
    assert_eq!(measured_use(404).await, (strings(&["Query"]), vec![], 0, 0, vec![]), "then cold: one read");
    println!(
        "round trips per use: cold 1 read + 2 writes + 1 Decrypt + 1 token + 1 call; warm 2 writes + 1 call; \
         replaced elsewhere 1 failed write + 1 read + 2 writes + 1 Decrypt + 1 token + 1 call; revoked elsewhere \
         1 failed write + 1 read"
    );
}

#[tokio::test]
async fn a_pan_is_looked_up_under_every_key_of_the_keyring_in_the_same_read() {
    let stack = Stack::new(Backend::Aws).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let by_pan = |tracking: &str| {
        json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA", "card": { "pan": "4111111111111111" },
            "mode": "CREDIT", "entry_mode": "01", "processing_code": "003000", "tracking_id": tracking })
    };
    let pan_lookups = |from: usize| -> Vec<usize> {
        stack.dynamodb_trips.requests()[from..]
            .iter()
            .filter(|(operation, _)| operation == "BatchGetItem")
            .map(|(_, body)| body.to_string().matches("LOOKUP#PAN#").count())
            .collect()
    };
    let one_key =
        TestServer::start_authorizations(wiring::authorizer(stack.aws_clients(), &stack.authorization_settings()));
    let mark = stack.dynamodb_trips.count();
    let (reply, one, _) = measured(&stack, &one_key.await, &by_pan("one-key")).await;
    assert_eq!(reply.body["status"], "APPROVED");
    assert_eq!(one, ["BatchGetItem", "BatchGetItem", "TransactWriteItems"], "by PAN: the look-up, then the account");
    assert_eq!(pan_lookups(mark), [1, 0]);

    // A second key, current: the card, hashed under the first, is found by the look-up under it.
    let rotation = stack.hmac_rotation();
    let added = rotation.add(cofre_domain::secret::SecretBytes::new(vec![7; 32])).await.unwrap();
    rotation.make_current(&added).await.unwrap();
    let two_keys =
        TestServer::start_authorizations(wiring::authorizer(stack.aws_clients(), &stack.authorization_settings()));
    let mark = stack.dynamodb_trips.count();
    let (reply, two, secrets) = measured(&stack, &two_keys.await, &by_pan("two-keys")).await;
    assert_eq!(reply.body["status"], "APPROVED");
    assert_eq!(two, one, "two keys: as many round trips as one");
    assert_eq!(pan_lookups(mark), [2, 0], "a look-up per key, in the first read");
    assert_eq!(secrets, [stack.hmac_secret.clone().unwrap()], "the keyring: one read, as the key was");
}
