//! `PATCH /v1/merchants/{merchantId}/connection/{connectionId}` over real HTTP, on both backends,
//! against a real HTTP processor (wiremock): every numbered step of the contract, and that every
//! failure leaves credentials, status and version exactly as they were.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use cofre_domain::merchants::{ConnectionId, Merchant, MerchantId, ProofGuard};
use cofre_domain::tenant::TenantId;
use cofre_tests::wiremock::matchers::{body_json, body_string_contains, header, method, path};
use cofre_tests::wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Reply, Stack, TestClock, TestServer, merchant_fixture, processors_at};
use serde_json::json;

const TENANT: &str = "tenant-a";
const MERCHANT: &str = "mid_test_a";

struct World {
    stack: Stack,
    server: TestServer,
    processor: MockServer,
}

async fn world(backend: Backend, timeout_ms: u64) -> World {
    let processor = MockServer::start().await;
    let stack = Stack::new(backend).await;
    let report = stack.seeder().seed(&merchant_fixture()).await.unwrap();
    assert_eq!(report.inserted, 2);
    let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), timeout_ms))).await;
    let server = TestServer::start_merchants(stack.connections(settings)).await;
    World { stack, server, processor }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn once(mock: MockBuilder, template: ResponseTemplate, server: &MockServer) {
    mock.respond_with(template).expect(1).mount(server).await;
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "ok": true }))
}

fn assert_error(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body["statusCode"], status, "{reply:?}");
    assert_eq!(reply.body["message"], message, "{reply:?}");
    let reason = http::StatusCode::from_u16(status).unwrap().canonical_reason().unwrap();
    assert_eq!(reply.body["error"], reason, "{reply:?}");
}

async fn stored(stack: &Stack) -> Merchant {
    stack
        .merchants
        .merchant(&TenantId::parse(TENANT).unwrap(), &MerchantId::parse(MERCHANT).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// The whole stored merchant: credentials (sealed and fingerprinted), statuses, versions, stamps;
/// everything but the count of failed proofs, which [`guard`] reads.
async fn snapshot(stack: &Stack) -> Merchant {
    let mut merchant = stored(stack).await;
    merchant.connections.iter_mut().for_each(|c| c.guard = ProofGuard::default());
    merchant
}

/// A connection's failed proofs and lock, as stored.
async fn guard(stack: &Stack, connection: &str) -> ProofGuard {
    stored(stack).await.connection(&ConnectionId::parse(connection).unwrap()).unwrap().guard
}

#[tokio::test]
async fn every_processor_is_called_in_its_own_shape_and_the_set_is_stored() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        let p = &w.processor;
        once(
            Mock::given(method("GET"))
                .and(path("/v1/account"))
                .and(header("authorization", basic("rk_connect", "").as_str())),
            ok(),
            p,
        )
        .await;
        once(
            Mock::given(method("GET"))
                .and(path("/v1/merchant"))
                .and(header("authorization", basic("affini_secret", "").as_str())),
            ok(),
            p,
        )
        .await;
        let anet_ok = ResponseTemplate::new(200).set_body_raw(
            "\u{feff}{\"messages\":{\"resultCode\":\"Ok\",\"message\":[{\"code\":\"I00001\"}]}}",
            "application/json",
        );
        once(
            Mock::given(method("POST")).and(path("/xml/v1/request.api")).and(body_json(json!({
                "authenticateTestRequest": { "merchantAuthentication": { "name": "anet_login", "transactionKey": "anet_tk" } }
            }))),
            anet_ok,
            p,
        )
        .await;
        once(
            Mock::given(method("POST"))
                .and(path("/graphql"))
                .and(header("authorization", basic("bt_public", "bt_private").as_str()))
                .and(header("braintree-version", "2019-01-01"))
                .and(body_json(json!({ "query": "query { ping }" }))),
            ResponseTemplate::new(200).set_body_json(json!({ "data": { "ping": "pong" } })),
            p,
        )
        .await;
        once(
            Mock::given(method("POST")).and(path("/api/query.php")).and(body_string_contains("security_key=nmi_key")),
            ResponseTemplate::new(200).set_body_string("<nm_response></nm_response>"),
            p,
        )
        .await;
        once(
            Mock::given(method("POST"))
                .and(path("/v71/paymentMethods"))
                .and(header("x-api-key", "adyen_key"))
                .and(body_json(json!({ "merchantAccount": "AdyenMerchantECOM" }))),
            ok(),
            p,
        )
        .await;
        once(
            Mock::given(method("GET"))
                .and(path("/v2/merchants/me"))
                .and(header("authorization", "Bearer sq_token"))
                .and(header("square-version", "2024-01-18")),
            ok(),
            p,
        )
        .await;
        once(
            Mock::given(method("GET"))
                .and(path("/cardconnect/rest/inquireMerchant/496160873888"))
                .and(header("authorization", basic("cp_new_user", "cp_new_pass").as_str())),
            ok(),
            p,
        )
        .await;

        let cases = [
            ("midCon_stripeconnect", json!({ "key": "rk_connect" })),
            ("midCon_affinipay", json!({ "secret": "affini_secret" })),
            ("midCon_anet", json!({ "key": "anet_login", "secret": "anet_tk" })),
            ("midCon_braintree", json!({ "key": "bt_public", "secret": "bt_private", "mid": "bt_merchant" })),
            ("midCon_nmi", json!({ "secret": "nmi_key" })),
            ("midCon_adyen", json!({ "key": "adyen_key", "mid": "AdyenMerchantECOM" })),
            ("midCon_square", json!({ "key": "sq_token" })),
            ("midCon_cardpointe", json!({ "key": "cp_new_user", "secret": "cp_new_pass", "mid": "496160873888" })),
        ];
        for (connection, body) in cases {
            let reply = w.server.patch_connection(TENANT, MERCHANT, connection, &body.to_string()).await;
            assert_eq!(reply.status, 200, "{backend:?} {connection}: {reply:?}");
            let record = &reply.body;
            assert_eq!(record["id"], MERCHANT);
            assert_eq!(record["tin"], "****6789", "the TIN is masked");
            assert_eq!(record["name"], "Bobby's Ecommerce Shop");
            assert_eq!(record["address"]["city"], "San Francisco", "the profile comes back whole");
            assert_eq!(record["modifiedBy"], "API Key: Local");
            assert_ne!(record["modifiedOn"], "2024-02-09T04:06:17Z");
            assert_eq!(record["createdOn"], "2024-02-09T03:48:38Z");
            let entry =
                record["connections"].as_array().unwrap().iter().find(|c| c["id"] == connection).unwrap().clone();
            assert_eq!(entry["status"], "Active");
            assert_eq!(entry.as_object().unwrap().len(), 3, "id, status, processor only: {entry}");
            let text = record.to_string();
            for value in body.as_object().unwrap().values() {
                assert!(!text.contains(value.as_str().unwrap()), "{connection}: a credential value came back");
            }
            for leaked in ["fingerprint", "ciphertext", "wrapped", "credentials", "sk_old"] {
                assert!(!text.contains(leaked), "{connection}: {leaked} in the response");
            }
            let (stored, version, status) = w.stack.stored_connection(TENANT, MERCHANT, connection).await;
            assert_eq!(
                (stored, version, status.as_str()),
                (Some(body.clone()), 1, "Active"),
                "{backend:?} {connection}"
            );
        }
        w.processor.verify().await;
    }
}

#[tokio::test]
async fn malformed_bodies_are_400_and_never_reach_the_processor() {
    let w = world(Backend::Local, 2_000).await;
    Mock::given(method("GET")).respond_with(ok()).expect(0).mount(&w.processor).await;
    Mock::given(method("POST")).respond_with(ok()).expect(0).mount(&w.processor).await;
    let before = snapshot(&w.stack).await;
    for (body, message) in [
        ("{oops", "Request body is not valid JSON (line 1, column 2)"),
        ("[]", "Request body must be a JSON object"),
        ("{}", "At least one of key, secret, mid is required"),
        (r#"{"existingCredentials":{"secret":"sk_old"}}"#, "At least one of key, secret, mid is required"),
        (r#"{"secret":123}"#, "secret must be a string"),
        (r#"{"secret":null}"#, "secret must be a string"),
        (r#"{"secret":""}"#, "secret must be 1 to 2048 characters"),
        (
            r#"{"secret":"s","password":"p"}"#,
            "Request body has an unknown field; allowed fields are key, secret, mid, existingCredentials",
        ),
        (r#"{"secret":"s","existingCredentials":[]}"#, "existingCredentials must be an object"),
        (r#"{"secret":"s","existingCredentials":{"secret":{}}}"#, "existingCredentials.secret must be a string"),
        (
            r#"{"secret":"s","existingCredentials":{"pin":"1"}}"#,
            "existingCredentials has an unknown field; allowed fields are key, secret, mid",
        ),
    ] {
        let reply = w.server.patch_connection(TENANT, MERCHANT, "midCon_affinipay", body).await;
        assert_error(&reply, 400, message);
    }
    let huge = format!(r#"{{"secret":"{}"}}"#, "s".repeat(20_000));
    assert_eq!(w.server.patch_connection(TENANT, MERCHANT, "midCon_affinipay", &huge).await.status, 400);
    assert_eq!(snapshot(&w.stack).await, before, "nothing changed");
    w.processor.verify().await;
}

#[tokio::test]
async fn unknown_and_foreign_merchants_and_connections_are_one_404() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        Mock::given(method("GET")).respond_with(ok()).expect(0).mount(&w.processor).await;
        let body = r#"{"secret":"s"}"#;
        let cases = [
            (TENANT, "mid_test_unknown", "midCon_affinipay"),
            (TENANT, MERCHANT, "midCon_unknown"),
            (TENANT, "mid_test_b", "midCon_b"),
            ("tenant-b", MERCHANT, "midCon_affinipay"),
            (TENANT, MERCHANT, "midCon%23affinipay"),
            (TENANT, "mid..%2F..", "midCon_affinipay"),
        ];
        let mut bodies = Vec::new();
        for (tenant, merchant, connection) in cases {
            let reply = w.server.patch_connection(tenant, merchant, connection, body).await;
            assert_error(&reply, 404, "Merchant connection not found");
            bodies.push(reply.body);
        }
        assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "the same body whatever the reason");
        let (stored, version, _) = w.stack.stored_connection("tenant-b", "mid_test_b", "midCon_b").await;
        assert_eq!((stored, version), (Some(json!({ "secret": "sk_b" })), 1), "{backend:?}: tenant B untouched");
        w.processor.verify().await;
    }
}

#[tokio::test]
async fn the_merged_set_must_have_what_the_processor_needs() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        Mock::given(method("POST")).respond_with(ok()).expect(0).mount(&w.processor).await;
        let before = snapshot(&w.stack).await;
        for (connection, body, message) in [
            ("midCon_anet", json!({ "key": "login" }), "Authorize.Net requires fields: secret"),
            ("midCon_braintree", json!({ "mid": "m" }), "Braintree requires fields: key, secret"),
            ("midCon_adyen", json!({ "secret": "s" }), "Adyen requires fields: key, mid"),
            ("midCon_stripeconnect", json!({ "secret": "s" }), "StripeConnect requires fields: key"),
            ("midCon_cardpointe", json!({ "mid": "m" }), "CardPointe requires fields: key, secret"),
            // Step 3 before step 4: with a key on file and no existingCredentials, the missing mid is
            // what the caller hears first.
            ("midCon_braintree_partial", json!({ "secret": "s" }), "Braintree requires fields: mid"),
        ] {
            let reply = w.server.patch_connection(TENANT, MERCHANT, connection, &body.to_string()).await;
            assert_error(&reply, 400, message);
        }
        assert_eq!(snapshot(&w.stack).await, before, "{backend:?}: nothing changed");
        w.processor.verify().await;
    }
}

#[tokio::test]
async fn existing_credentials_must_equal_everything_on_file() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        Mock::given(method("GET")).and(path("/v1/account")).respond_with(ok()).expect(1).mount(&w.processor).await;
        once(
            Mock::given(method("GET"))
                .and(path("/cardconnect/rest/inquireMerchant/496160873888"))
                .and(header("authorization", basic("cp_user", "cp_rotated").as_str())),
            ok(),
            &w.processor,
        )
        .await;
        let before = snapshot(&w.stack).await;
        let exists = "Credentials already exist for this connection. Please update via Dashboard";
        let mismatch =
            "The credentials passed in 'existingCredentials' do not match those on file. No updates have been made.";
        for (connection, body, status, message) in [
            ("midCon_stripe", json!({ "secret": "sk_new" }), 400, exists),
            // Step 3 passes on what is on file (secret), then step 4 refuses.
            ("midCon_stripe", json!({ "key": "k" }), 400, exists),
            (
                "midCon_stripe",
                json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_wrong" } }),
                409,
                mismatch,
            ),
            (
                "midCon_stripe",
                json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_old", "mid": "extra" } }),
                409,
                mismatch,
            ),
            ("midCon_full", json!({ "secret": "cp_new", "existingCredentials": {} }), 409, mismatch),
            (
                "midCon_full",
                json!({ "secret": "cp_rotated", "existingCredentials": { "secret": "cp_pass" } }),
                409,
                mismatch,
            ),
            (
                "midCon_affinipay",
                json!({ "secret": "s", "existingCredentials": { "secret": "anything" } }),
                409,
                mismatch,
            ),
        ] {
            let reply = w.server.patch_connection(TENANT, MERCHANT, connection, &body.to_string()).await;
            assert_error(&reply, status, message);
        }
        assert_eq!(snapshot(&w.stack).await, before, "{backend:?}: refusals changed nothing");
        // ...but count: each was a guess at what is on file (nothing on file: nothing to guess).
        let failures = [("midCon_stripe", 4), ("midCon_full", 2), ("midCon_affinipay", 0)];
        for (connection, count) in failures {
            assert_eq!(guard(&w.stack, connection).await.failures, count, "{backend:?} {connection}");
        }

        let rotate = json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_old" } });
        assert_eq!(w.server.patch_connection(TENANT, MERCHANT, "midCon_stripe", &rotate.to_string()).await.status, 200);
        assert_eq!(
            w.stack.stored_connection(TENANT, MERCHANT, "midCon_stripe").await,
            (Some(json!({ "secret": "sk_new" })), 2, "Active".into())
        );
        assert_eq!(guard(&w.stack, "midCon_stripe").await, ProofGuard::default(), "a correct proof resets the count");
        // The client retries (its first answer was lost after the commit): what it asks for is on file,
        // so it gets the stored result, whatever its existingCredentials say; nothing is written again.
        let processor_calls = w.processor.received_requests().await.unwrap().len();
        for retry in [
            rotate.clone(),
            json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_wrong" } }),
            json!({ "secret": "sk_new" }),
        ] {
            let replay = w.server.patch_connection(TENANT, MERCHANT, "midCon_stripe", &retry.to_string()).await;
            assert_eq!(replay.status, 200, "{backend:?} {retry}: {replay:?}");
            assert_eq!(
                w.stack.stored_connection(TENANT, MERCHANT, "midCon_stripe").await,
                (Some(json!({ "secret": "sk_new" })), 2, "Active".into()),
                "{backend:?}: written once"
            );
        }
        assert_eq!(w.processor.received_requests().await.unwrap().len(), processor_calls, "not validated again");
        // Anything else than what is on file still needs the credentials on file.
        let stale = json!({ "secret": "sk_newer", "existingCredentials": { "secret": "sk_old" } });
        assert_error(
            &w.server.patch_connection(TENANT, MERCHANT, "midCon_stripe", &stale.to_string()).await,
            409,
            mismatch,
        );

        // A partial rotation keeps the fields it does not name.
        let full = json!({ "secret": "cp_rotated", "existingCredentials": { "key": "cp_user", "secret": "cp_pass", "mid": "496160873888" } });
        assert_eq!(w.server.patch_connection(TENANT, MERCHANT, "midCon_full", &full.to_string()).await.status, 200);
        let (stored, version, _) = w.stack.stored_connection(TENANT, MERCHANT, "midCon_full").await;
        assert_eq!(
            (stored, version),
            (Some(json!({ "key": "cp_user", "secret": "cp_rotated", "mid": "496160873888" })), 2)
        );
        w.processor.verify().await;
    }
}

/// Rotates `midCon_stripe` (or sets `connection`) against a processor answering `template`:
/// returns the reply after checking the merchant is exactly as before.
async fn failed_validation(
    backend: Backend,
    connection: &str,
    body: serde_json::Value,
    template: ResponseTemplate,
    timeout_ms: u64,
) -> Reply {
    let w = world(backend, timeout_ms).await;
    Mock::given(method("GET")).respond_with(template.clone()).mount(&w.processor).await;
    Mock::given(method("POST")).respond_with(template).mount(&w.processor).await;
    let before = snapshot(&w.stack).await;
    let reply = w.server.patch_connection(TENANT, MERCHANT, connection, &body.to_string()).await;
    assert_eq!(snapshot(&w.stack).await, before, "{backend:?} {connection}: credentials, status and version unchanged");
    // Exactly one validation call was made.
    assert_eq!(w.processor.received_requests().await.unwrap().len(), 1);
    reply
}

#[tokio::test]
async fn processor_refusals_outages_and_timeouts_change_nothing() {
    let invalid = "Invalid connection credentials. Please update credentials and submit again.";
    let rotate = json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_old" } });
    for backend in Backend::ALL {
        for status in [401, 403] {
            let reply =
                failed_validation(backend, "midCon_stripe", rotate.clone(), ResponseTemplate::new(status), 2_000).await;
            assert_error(&reply, 400, invalid);
        }
        let e00007 = ResponseTemplate::new(200).set_body_raw(
            "\u{feff}{\"messages\":{\"resultCode\":\"Error\",\"message\":[{\"code\":\"E00007\",\"text\":\"User authentication failed\"}]}}",
            "application/json",
        );
        let reply =
            failed_validation(backend, "midCon_anet", json!({ "key": "l", "secret": "bad" }), e00007, 2_000).await;
        assert_error(&reply, 400, invalid);
        let nmi = ResponseTemplate::new(200).set_body_string("<error_response>Authentication Failed</error_response>");
        let reply = failed_validation(backend, "midCon_nmi", json!({ "secret": "bad" }), nmi, 2_000).await;
        assert_error(&reply, 400, invalid);
        for status in [500, 503, 404] {
            let reply =
                failed_validation(backend, "midCon_stripe", rotate.clone(), ResponseTemplate::new(status), 2_000).await;
            assert_error(&reply, 502, "The processor could not be reached. No updates have been made.");
        }
        let slow = ok().set_delay(Duration::from_millis(1_500));
        let reply = failed_validation(backend, "midCon_square", json!({ "key": "sq" }), slow, 300).await;
        assert_error(&reply, 504, "The processor did not respond in time. No updates have been made.");
    }
}

#[tokio::test]
async fn an_unreachable_or_unconfigured_processor_changes_nothing() {
    for backend in Backend::ALL {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let stack = Stack::new(backend).await;
        stack.seeder().seed(&merchant_fixture()).await.unwrap();
        let before = snapshot(&stack).await;
        let server = TestServer::start_merchants(
            stack.connections(stack.partner_settings(Some(&processors_at(&url, 1_000))).await),
        )
        .await;
        let reply = server.patch_connection(TENANT, MERCHANT, "midCon_affinipay", r#"{"secret":"s"}"#).await;
        assert_error(&reply, 502, "The processor could not be reached. No updates have been made.");
        let only_stripe = json!({ "Stripe": { "base_url": url } }).to_string();
        for settings in [stack.partner_settings(Some(&only_stripe)).await, stack.partner_settings(None).await] {
            let server = TestServer::start_merchants(stack.connections(settings)).await;
            let reply = server.patch_connection(TENANT, MERCHANT, "midCon_affinipay", r#"{"secret":"s"}"#).await;
            assert_error(&reply, 500, "Internal server error. No updates have been made.");
        }
        assert_eq!(snapshot(&stack).await, before, "{backend:?}");
    }
}

#[tokio::test]
async fn callers_without_a_valid_token_get_a_preczn_401() {
    let w = world(Backend::Local, 2_000).await;
    let url = format!("{}/v1/merchants/{MERCHANT}/connection/midCon_affinipay", w.server.base_url);
    for auth in [None, Some("Bearer nope")] {
        let mut request = w.server.client.patch(&url).body(r#"{"secret":"s"}"#);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let reply = Reply::read(request.send().await.unwrap()).await;
        assert_error(&reply, 401, "Unauthorized");
    }
    let wrong_method = Reply::read(w.server.client.post(&url).body("{}").send().await.unwrap()).await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn an_undecodable_path_is_the_same_404() {
    let w = world(Backend::Local, 2_000).await;
    let url = format!("{}/v1/merchants/mid_%FF%FE/connection/midCon_affinipay", w.server.base_url);
    let reply = Reply::read(
        w.server.client.patch(url).bearer_auth(w.server.token(TENANT)).body(r#"{"secret":"s"}"#).send().await.unwrap(),
    )
    .await;
    assert_error(&reply, 404, "Merchant connection not found");
}

#[tokio::test]
async fn key_service_and_hmac_key_failures_are_500_and_change_nothing() {
    use std::sync::Arc;
    let processor = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&processor).await;
    let stack = Stack::new(Backend::Aws).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let before = snapshot(&stack).await;
    let sdk = cofre_tests::moto_sdk_config();
    let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), 2_000))).await;
    let (kms, _) = stack.kms.as_ref().unwrap();
    let secrets = cofre_tests::secrets_client(&sdk, &Default::default());
    let broken = [
        // A KMS key that does not exist: GenerateDataKey fails.
        cofre_domain::merchants::MerchantConnections::new(
            Arc::clone(&stack.merchants),
            Arc::new(cofre_aws::KmsKeyService::new(kms.clone(), "alias/cofre-missing")),
            Arc::clone(&stack.hmac),
            Arc::new(cofre_aws::HttpProcessorClient::new(Duration::from_secs(1)).unwrap()),
            Arc::clone(&settings),
            Arc::new(cofre_domain::clock::SystemClock),
        ),
        // An HMAC key secret that does not exist: no fingerprint can be made.
        cofre_domain::merchants::MerchantConnections::new(
            Arc::clone(&stack.merchants),
            Arc::clone(&stack.keys),
            Arc::new(cofre_aws::SecretsManagerHmacKey::new(secrets, "cofre-missing-hmac")),
            Arc::new(cofre_aws::HttpProcessorClient::new(Duration::from_secs(1)).unwrap()),
            Arc::clone(&settings),
            Arc::new(cofre_domain::clock::SystemClock),
        ),
    ];
    for connections in broken {
        let server = TestServer::start_merchants(connections).await;
        for (connection, body) in [
            ("midCon_affinipay", r#"{"secret":"s"}"#),
            ("midCon_stripe", r#"{"secret":"sk_new","existingCredentials":{"secret":"sk_old"}}"#),
        ] {
            let reply = server.patch_connection(TENANT, MERCHANT, connection, body).await;
            assert_error(&reply, 500, "Internal server error. No updates have been made.");
        }
    }
    assert_eq!(snapshot(&stack).await, before);
}

#[tokio::test]
async fn guessing_the_credentials_on_file_locks_the_connection_across_instances() {
    for backend in Backend::ALL {
        let processor = MockServer::start().await;
        Mock::given(method("GET")).and(path("/v1/account")).respond_with(ok()).expect(1).mount(&processor).await;
        let stack = Stack::new(backend).await;
        stack.seeder().seed(&merchant_fixture()).await.unwrap();
        let clock = TestClock::default();
        let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), 2_000))).await;
        // Two instances of the function (two Lambda execution environments) over one table.
        let one =
            TestServer::start_merchants(stack.connections_at(Arc::clone(&settings), Arc::new(clock.clone()))).await;
        let two = TestServer::start_merchants(stack.connections_at(settings, Arc::new(clock.clone()))).await;
        let patch = |server: &TestServer, existing: &str| {
            let (server, body) =
                (server.clone(), json!({ "secret": "sk_new", "existingCredentials": { "secret": existing } }));
            async move { server.patch_connection(TENANT, MERCHANT, "midCon_stripe", &body.to_string()).await }
        };
        let mismatch =
            "The credentials passed in 'existingCredentials' do not match those on file. No updates have been made.";
        let locked = |seconds: u64| {
            format!(
                "Too many failed attempts to prove the credentials on file. Retry after {seconds} seconds. No updates \
                 have been made."
            )
        };
        let assert_locked = |reply: &Reply, seconds: u64| {
            assert_error(reply, 429, &locked(seconds));
            assert_eq!(reply.headers.get("retry-after").map(String::as_str), Some(seconds.to_string().as_str()));
        };
        let before = snapshot(&stack).await;

        for guess in 1..=5 {
            let server = if guess % 2 == 0 { &two } else { &one };
            assert_error(&patch(server, &format!("sk_guess_{guess}")).await, 409, mismatch);
        }
        // Locked for both instances, even against the right answer: the lock itself tells nothing.
        assert_locked(&patch(&one, "sk_old").await, 60);
        assert_locked(&patch(&two, "sk_old").await, 60);
        assert_eq!(guard(&stack, "midCon_stripe").await.failures, 5, "{backend:?}: no comparison while locked");
        assert_eq!(snapshot(&stack).await, before, "{backend:?}: nothing else changed");

        // After the window one guess, then a lock twice as long.
        clock.advance(Duration::from_secs(61));
        assert_error(&patch(&two, "sk_guess_6").await, 409, mismatch);
        assert_locked(&patch(&one, "sk_old").await, 120);

        // Concurrent guesses once the count has started: one comparison per count between them, every
        // one counted; the others are told to retry.
        clock.advance(Duration::from_secs(121));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..12 {
            let server = if i % 2 == 0 { one.clone() } else { two.clone() };
            let body = json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_wrong" } }).to_string();
            tasks.spawn(async move { server.patch_connection(TENANT, MERCHANT, "midCon_stripe", &body).await });
        }
        let replies = tasks.join_all().await;
        let compared = replies.iter().filter(|r| r.status == 409).count();
        let refused = replies.iter().filter(|r| r.status == 429).count();
        assert_eq!((compared, refused, compared + refused), (compared, refused, 12), "{backend:?}: {replies:?}");
        assert!(compared >= 1, "{backend:?}: at least the first guess is compared");
        assert_eq!(
            guard(&stack, "midCon_stripe").await.failures as usize,
            6 + compared,
            "{backend:?}: every compared guess counted"
        );

        // The right answer after the lock: rotated, and the count starts again.
        let lock = guard(&stack, "midCon_stripe").await.locked_for(time::OffsetDateTime::now_utc());
        clock.advance(lock.unwrap_or_default() + Duration::from_secs(3_600));
        let rotated = patch(&one, "sk_old").await;
        assert_eq!(rotated.status, 200, "{backend:?}: {rotated:?}");
        assert_eq!(
            stack.stored_connection(TENANT, MERCHANT, "midCon_stripe").await,
            (Some(json!({ "secret": "sk_new" })), 2, "Active".into())
        );
        assert_eq!(guard(&stack, "midCon_stripe").await, ProofGuard::default(), "{backend:?}");
        processor.verify().await;
    }
}
