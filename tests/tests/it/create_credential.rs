//! `POST /banking-auth/v1/credentials` over real HTTP, on both backends, against a real HTTP
//! partner (wiremock): every documented answer, and that failures leave stored data as it was.

use std::time::Duration;

use base64::Engine;
use cofre_domain::credentials::{CredentialType, Provider};
use cofre_tests::wiremock::matchers::{body_json, body_string_contains, header, method, path};
use cofre_tests::wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Reply, Stack, TestServer, credential_body, partners_at};
use serde_json::json;

const TENANT: &str = "tenant-a";

struct World {
    stack: Stack,
    server: TestServer,
    partner: MockServer,
}

async fn world(backend: Backend, timeout_ms: u64) -> World {
    let partner = MockServer::start().await;
    let stack = Stack::new(backend).await;
    let settings = stack.partner_settings(Some(&partners_at(&partner.uri(), timeout_ms))).await;
    let server = TestServer::start(stack.vault(settings)).await;
    World { stack, server, partner }
}

fn token_path(provider: &str) -> &'static str {
    match provider {
        "BTG" => "/oauth2/token",
        "CELCOIN" => "/v5/token",
        "JDPI" => "/auth/jdpi/connect/token",
        _ => "/api/v1/login",
    }
}

/// A partner that answers `template` to its token call, exactly `times` times.
async fn partner_answers(partner: &MockServer, provider: &str, template: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(token_path(provider)))
        .respond_with(template)
        .expect(times)
        .mount(partner)
        .await;
}

/// `Authorization: Basic` as BTG receives it.
fn basic(client_id: &str, key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{key}")))
}

/// Answers a matching request with a token, exactly once.
async fn once(mock: MockBuilder, partner: &MockServer) {
    mock.respond_with(ok_token()).expect(1).mount(partner).await;
}

fn ok_token() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "access_token": "partner-access-token", "expires_in": 300 }))
}

fn assert_error(reply: &Reply, status: u16, code: &str, message: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body["code"], code, "{reply:?}");
    assert_eq!(reply.body["message"], message, "{reply:?}");
}

#[tokio::test]
async fn every_partner_is_called_in_its_own_shape_then_the_key_is_stored_and_replaced() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        once(
            Mock::given(method("POST"))
                .and(path("/oauth2/token"))
                .and(header("authorization", basic("client-123", "btg-key-2").as_str()))
                .and(header("content-type", "application/x-www-form-urlencoded"))
                .and(body_string_contains("grant_type=client_credentials"))
                .and(body_string_contains("scope=openid")),
            &w.partner,
        )
        .await;
        once(
            Mock::given(method("POST"))
                .and(path("/oauth2/token"))
                .and(header("authorization", basic("client-123", "btg-key-1").as_str())),
            &w.partner,
        )
        .await;
        once(
            Mock::given(method("POST"))
                .and(path("/v5/token"))
                .and(body_string_contains("client_id=client-123"))
                .and(body_string_contains("client_secret=celcoin-key"))
                .and(body_string_contains("grant_type=client_credentials")),
            &w.partner,
        )
        .await;
        once(
            Mock::given(method("POST"))
                .and(path("/auth/jdpi/connect/token"))
                .and(body_string_contains("client_secret=jdpi-key"))
                .and(body_string_contains("scope=dict_api+spi_api+qrcode_api"))
                .and(body_string_contains("grant_type=client_credentials")),
            &w.partner,
        )
        .await;
        once(
            Mock::given(method("POST"))
                .and(path("/api/v1/login"))
                .and(body_json(json!({ "username": "ops@tenant", "password": "pay2all-key" }))),
            &w.partner,
        )
        .await;

        let created = w.server.post_credential(TENANT, &credential_body("btg-key-1", "BTG", "PIX"), "track-1").await;
        assert_eq!(created.status, 201, "{backend:?} {created:?}");
        assert_eq!(created.body["message"], "Credential saved");
        assert_eq!(created.headers["tracking_id"], "track-1");
        let proxy = created.body["proxy"].as_str().unwrap().to_owned();
        assert!(proxy.starts_with("cfp_") && proxy.len() > 40, "{proxy}");
        assert_eq!(created.body["replaced"], false, "{created:?}");
        assert_eq!(created.body.as_object().unwrap().len(), 3, "only message, proxy and replaced: {created:?}");

        let replaced = w.server.post_credential(TENANT, &credential_body("btg-key-2", "BTG", "PIX"), "track-2").await;
        assert_eq!((replaced.status, &replaced.body["replaced"]), (201, &json!(true)), "{backend:?} {replaced:?}");
        assert_eq!(replaced.body["proxy"], proxy.as_str(), "the proxy is stable across replacements");
        assert_eq!(w.stack.stored_key(TENANT, Provider::Btg, CredentialType::Pix).await, Some(("btg-key-2".into(), 2)));

        for (key, provider, credential_type, p, t) in [
            ("celcoin-key", "CELCOIN", "BAAS", Provider::Celcoin, CredentialType::Baas),
            ("jdpi-key", "JDPI", "PIX", Provider::Jdpi, CredentialType::Pix),
            ("pay2all-key", "PAY2ALL", "PAY2ALL", Provider::Pay2all, CredentialType::Pay2all),
        ] {
            let reply = w.server.post_credential(TENANT, &credential_body(key, provider, credential_type), "t").await;
            assert_eq!(reply.status, 201, "{backend:?} {provider}: {reply:?}");
            assert_ne!(reply.body["proxy"], proxy.as_str(), "each slot has its own proxy");
            assert_eq!(w.stack.stored_key(TENANT, p, t).await, Some((key.to_owned(), 1)));
        }
        w.partner.verify().await;
    }
}

/// Stores `original` in BTG/PIX, then sends `replacement` against a partner answering `template`:
/// the reply must be `expected` and the slot must still hold `original` at version 1.
async fn failed_replace_changes_nothing(backend: Backend, template: ResponseTemplate, timeout_ms: u64) -> Reply {
    let w = world(backend, timeout_ms).await;
    once(
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .and(header("authorization", basic("client-123", "original").as_str())),
        &w.partner,
    )
    .await;
    partner_answers(&w.partner, "BTG", template, 2).await;
    assert_eq!(w.server.post_credential(TENANT, &credential_body("original", "BTG", "PIX"), "t0").await.status, 201);

    let reply = w.server.post_credential(TENANT, &credential_body("replacement", "BTG", "PIX"), "t1").await;
    assert_eq!(
        w.stack.stored_key(TENANT, Provider::Btg, CredentialType::Pix).await,
        Some(("original".into(), 1)),
        "{backend:?}"
    );
    // A fresh slot that fails is not created at all.
    let fresh = w.server.post_credential("tenant-fresh", &credential_body("replacement", "BTG", "PIX"), "t2").await;
    assert_eq!((fresh.status, fresh.code()), (reply.status, reply.code()));
    assert_eq!(w.stack.stored_key("tenant-fresh", Provider::Btg, CredentialType::Pix).await, None, "{backend:?}");
    w.partner.verify().await;
    reply
}

#[tokio::test]
async fn a_partner_refusal_is_ebaa0018_and_saves_nothing() {
    for backend in Backend::ALL {
        for (status, error) in [(400, "invalid_client"), (400, "invalid_grant"), (401, "invalid_client"), (403, "")] {
            let template = ResponseTemplate::new(status).set_body_json(json!({ "error": error }));
            let reply = failed_replace_changes_nothing(backend, template, 2_000).await;
            assert_error(&reply, 400, "EBAA0018", "BTG - API Invalid credential");
        }
    }
}

#[tokio::test]
async fn a_partner_400_that_is_not_about_the_credential_is_ebaa0002() {
    // invalid_scope or a malformed request is our configuration's fault, not the tenant's key.
    for backend in Backend::ALL {
        for body in [json!({ "error": "invalid_scope" }), json!({ "message": "bad things" })] {
            let template = ResponseTemplate::new(400).set_body_json(body);
            let reply = failed_replace_changes_nothing(backend, template, 2_000).await;
            assert_error(&reply, 502, "EBAA0002", "Bad Gateway Error");
        }
    }
}

#[tokio::test]
async fn a_partner_5xx_is_ebaa0002_and_saves_nothing() {
    for backend in Backend::ALL {
        for status in [500, 503] {
            let reply = failed_replace_changes_nothing(backend, ResponseTemplate::new(status), 2_000).await;
            assert_error(&reply, 502, "EBAA0002", "Bad Gateway Error");
        }
    }
}

#[tokio::test]
async fn a_partner_timeout_is_ebaa0003_and_saves_nothing() {
    for backend in Backend::ALL {
        let slow = ok_token().set_delay(Duration::from_millis(1_500));
        let reply = failed_replace_changes_nothing(backend, slow, 300).await;
        assert_error(&reply, 504, "EBAA0003", "Gateway Timeout");
    }
}

#[tokio::test]
async fn an_unreachable_partner_is_ebaa0002() {
    for backend in Backend::ALL {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let stack = Stack::new(backend).await;
        let server =
            TestServer::start(stack.vault(stack.partner_settings(Some(&partners_at(&url, 1_000))).await)).await;
        let reply = server.post_credential(TENANT, &credential_body("k", "CELCOIN", "PIX"), "t").await;
        assert_error(&reply, 502, "EBAA0002", "Bad Gateway Error");
        assert_eq!(stack.stored_key(TENANT, Provider::Celcoin, CredentialType::Pix).await, None);
    }
}

#[tokio::test]
async fn a_partner_without_configuration_is_ebaa0014() {
    for backend in Backend::ALL {
        let partner = MockServer::start().await;
        partner_answers(&partner, "JDPI", ok_token(), 0).await;
        let stack = Stack::new(backend).await;
        let only_btg = json!({ "BTG": { "base_url": partner.uri() } }).to_string();
        for settings in [stack.partner_settings(Some(&only_btg)).await, stack.partner_settings(None).await] {
            let server = TestServer::start(stack.vault(settings)).await;
            let reply = server.post_credential(TENANT, &credential_body("k", "JDPI", "PIX"), "t").await;
            assert_error(&reply, 500, "EBAA0014", "JDPI - API configuration not found");
        }
        assert_eq!(stack.stored_key(TENANT, Provider::Jdpi, CredentialType::Pix).await, None);
        partner.verify().await;
    }
}

#[tokio::test]
async fn bad_payloads_are_refused_before_any_partner_call() {
    let w = world(Backend::Local, 2_000).await;
    Mock::given(method("POST")).respond_with(ok_token()).expect(0).mount(&w.partner).await;
    let cases = [
        ("{oops", 400, "EBAA0004", "Invalid payload"),
        ("[]", 400, "EBAA0004", "Invalid payload"),
        (r#"{"key":123,"provider":"BTG","type":"PIX"}"#, 400, "EBAA0004", "Invalid payload"),
        (r#"{"key":"k","provider":"BTG","type":"PIX","provider_data":[]}"#, 400, "EBAA0004", "Invalid payload"),
        ("{}", 400, "EBAA0005", "Invalid payload. Required fields: [key, provider, type]"),
        (
            r#"{"key":"k","provider":"BTG","type":"PIX"}"#,
            400,
            "EBAA0005",
            "Invalid payload. Required fields: [provider_data.client_id]",
        ),
        (
            r#"{"provider":"PAY2ALL","type":"PAY2ALL","provider_data":{}}"#,
            400,
            "EBAA0005",
            "Invalid payload. Required fields: [key, provider_data.username]",
        ),
        (
            r#"{"key":"k","provider":"JDPI","type":"BAAS","provider_data":{"client_id":"c"}}"#,
            400,
            "EBAA0007",
            "Unsupported Type: (BAAS) and Provider (JDPI)",
        ),
        (
            r#"{"key":"k","provider":"CELCOIN","type":"PAY2ALL","provider_data":{"client_id":"c"}}"#,
            400,
            "EBAA0007",
            "Unsupported Type: (PAY2ALL) and Provider (CELCOIN)",
        ),
        (
            r#"{"key":"k","provider":"ITAU","type":"PIX"}"#,
            400,
            "EBAA0007",
            "Unsupported Type: (PIX) and Provider (unrecognised)",
        ),
    ];
    for (body, status, code, message) in cases {
        let reply = w.server.post_credential(TENANT, body, "t").await;
        assert_error(&reply, status, code, message);
        assert!(reply.headers.contains_key("tracking_id"));
    }
    let huge = format!(r#"{{"key":"{}","provider":"BTG","type":"PIX"}}"#, "k".repeat(100_000));
    assert_error(&w.server.post_credential(TENANT, &huge, "t").await, 400, "EBAA0004", "Invalid payload");
    w.partner.verify().await;
}

#[tokio::test]
async fn callers_without_a_valid_token_get_401_and_nothing_else() {
    let w = world(Backend::Local, 2_000).await;
    Mock::given(method("POST")).respond_with(ok_token()).expect(0).mount(&w.partner).await;
    let url = format!("{}/banking-auth/v1/credentials", w.server.base_url);
    let body = credential_body("k", "BTG", "PIX");
    let foreign = cofre_local::LocalTokens::new(cofre_domain::secret::SecretBytes::new(vec![7; 32]))
        .mint(&cofre_domain::tenant::TenantId::parse(TENANT).unwrap(), None, Duration::from_secs(60))
        .unwrap();
    for auth in [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer not-a-jwt".to_owned()),
        Some(format!("Bearer {foreign}")),
        Some("Basic dXNlcjpwYXNz".to_owned()),
    ] {
        let mut request = w.server.client.post(&url).body(body.clone());
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let reply = Reply::read(request.send().await.unwrap()).await;
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(reply.body, json!({ "code": "UNAUTHORIZED", "message": "Unauthorized" }));
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
    }
    // Pismo's account_token header works as well as Authorization.
    partner_answers(&w.partner, "BTG", ok_token(), 0).await;
    let reply = Reply::read(
        w.server.client.post(&url).header("account_token", w.server.token(TENANT)).body("{}").send().await.unwrap(),
    )
    .await;
    assert_eq!(reply.code(), "EBAA0005");
}

#[tokio::test]
async fn tenants_never_touch_each_others_credentials() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        partner_answers(&w.partner, "BTG", ok_token(), 2).await;
        let a = w.server.post_credential("tenant-a", &credential_body("key-of-a", "BTG", "PIX"), "t").await;
        let b = w.server.post_credential("tenant-b", &credential_body("key-of-b", "BTG", "PIX"), "t").await;
        assert_eq!((a.status, b.status), (201, 201), "B creates its own slot rather than replacing A's");
        assert_ne!(a.body["proxy"], b.body["proxy"]);
        assert_eq!(
            w.stack.stored_key("tenant-a", Provider::Btg, CredentialType::Pix).await,
            Some(("key-of-a".into(), 1))
        );
        assert_eq!(
            w.stack.stored_key("tenant-b", Provider::Btg, CredentialType::Pix).await,
            Some(("key-of-b".into(), 1))
        );
    }
}

#[tokio::test]
async fn store_write_failures_are_ebaa0011_and_read_failures_ebaa0012() {
    for backend in Backend::ALL {
        let w = world(backend, 2_000).await;
        partner_answers(&w.partner, "CELCOIN", ok_token(), 1).await;
        partner_answers(&w.partner, "BTG", ok_token(), 1).await;
        // An unreadable item in the slot: the save cannot know what it replaces.
        match backend {
            Backend::Local => {
                let db = rusqlite::Connection::open(w.stack.embedded.as_ref().unwrap().path()).unwrap();
                db.execute("INSERT INTO items (pk, sk, version, body) VALUES ('TENANT#tenant-a', 'CREDENTIAL#CELCOIN#PIX', 1, 'garbage')", ()).unwrap();
            }
            Backend::Aws => {
                let (client, table) = w.stack.dynamodb.as_ref().unwrap();
                client
                    .put_item()
                    .table_name(table)
                    .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("TENANT#tenant-a".into()))
                    .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("CREDENTIAL#CELCOIN#PIX".into()))
                    .send()
                    .await
                    .unwrap();
            }
        }
        let reply = w.server.post_credential(TENANT, &credential_body("k", "CELCOIN", "PIX"), "t").await;
        assert_error(&reply, 500, "EBAA0012", "Credential Repository Get config error. Check logs for more details");

        // The store refuses every write.
        match backend {
            Backend::Local => {
                let db = rusqlite::Connection::open(w.stack.embedded.as_ref().unwrap().path()).unwrap();
                db.execute_batch(
                    "CREATE TRIGGER refuse BEFORE INSERT ON items BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
                )
                .unwrap();
            }
            Backend::Aws => {
                let (client, table) = w.stack.dynamodb.as_ref().unwrap();
                client.delete_table().table_name(table).send().await.unwrap();
            }
        }
        let reply = w.server.post_credential(TENANT, &credential_body("k", "BTG", "PIX"), "t").await;
        assert_error(&reply, 500, "EBAA0011", "Credential Repository Save config error. Check logs for more details");
        w.partner.verify().await;
    }
}

#[tokio::test]
async fn a_key_service_failure_is_ebaa0010_and_saves_nothing() {
    use std::sync::Arc;
    let partner = MockServer::start().await;
    partner_answers(&partner, "BTG", ok_token(), 1).await;
    let stack = Stack::new(Backend::Aws).await;
    let (kms, _) = stack.kms.as_ref().unwrap();
    let vault = cofre_domain::credentials::CredentialVault::new(
        Arc::clone(&stack.store),
        Arc::new(cofre_aws::KmsKeyService::new(kms.clone(), "alias/cofre-key-that-does-not-exist")),
        Arc::new(cofre_aws::HttpPartnerClient::new(Duration::from_millis(500)).unwrap()),
        stack.partner_settings(Some(&partners_at(&partner.uri(), 2_000))).await,
        Arc::new(cofre_domain::clock::SystemClock),
        Arc::new(cofre_domain::ids::RandomIds::default()),
    );
    let server = TestServer::start(vault).await;
    let reply = server.post_credential(TENANT, &credential_body("k", "BTG", "PIX"), "t").await;
    assert_error(&reply, 500, "EBAA0010", "Cryptography Decrypt error. Check logs for more details");
    let (dynamodb, table) = stack.dynamodb.as_ref().unwrap();
    assert_eq!(dynamodb.scan().table_name(table).send().await.unwrap().count(), 0);
    partner.verify().await;
}
