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
