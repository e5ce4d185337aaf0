//! The partner gateway over real HTTP, on both backends: a tenant calls its partner through Cofre by
//! proxy value, and the partner (a real HTTP server) sees only the token it issued for the stored
//! key. Every documented error path is driven, and what was (not) sent and (not) recorded checked.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use cofre_domain::gateway::PartnerGateway;
use cofre_tests::wiremock::matchers::{header, method, path};
use cofre_tests::wiremock::{Mock, MockServer, Request, ResponseTemplate};
use cofre_tests::{Backend, Reply, Stack, TestApp, TestClock, TestServer, credential_body, gateway_partners_at};
use serde_json::json;

/// The token the partner issues for `key`.
fn token_for(key: &str) -> String {
    format!("partner-token-for-{key}")
}

/// The partner's token call for `key` (BTG: HTTP Basic `client-123:key`), answering `token_for(key)`.
async fn issues_tokens_for(partner: &MockServer, key: &str, expires_in: u64) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client-123:{key}"));
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({ "access_token": token_for(key), "token_type": "Bearer", "expires_in": expires_in }),
            ),
        )
        .mount(partner)
        .await;
}

/// The partner's Pix transfer, answering 201 to a call carrying `key`'s token.
async fn transfers_with(partner: &MockServer, key: &str) {
    Mock::given(method("POST"))
        .and(path("/pix/v1/transfers"))
        .and(header("authorization", format!("Bearer {}", token_for(key)).as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "end_to_end_id": "E123", "status": "PROCESSING", "via": key }))
                .insert_header("x-request-id", "partner-req-1")
                .insert_header("set-cookie", "partner-session=abc")
                .insert_header("x-partner-internal", "node-7"),
        )
        .mount(partner)
        .await;
}

/// A backend's stack, a partner, and a server with the credential routes and the gateway.
struct World {
    stack: Stack,
    partner: MockServer,
    server: TestServer,
    gateway: Arc<PartnerGateway>,
    clock: TestClock,
}

impl World {
    async fn new(backend: Backend) -> Self {
        Self::with_timeout(backend, 2_000).await
    }

    async fn with_timeout(backend: Backend, timeout_ms: u64) -> Self {
        let partner = MockServer::start().await;
        let clock = TestClock::default();
        let app = TestApp::builder()
            .backend(backend)
            .partners(gateway_partners_at(&partner.uri(), timeout_ms))
            .clock(Arc::new(clock.clone()))
            .start()
            .await;
        Self { stack: app.stack, partner, server: app.server, gateway: app.gateway, clock }
    }

    /// Another execution environment over the same store and partner: its own gateway (and token
    /// cache) and credential routes, served apart.
    async fn instance(&self) -> (TestServer, Arc<PartnerGateway>) {
        let settings = self.stack.partner_settings(Some(&gateway_partners_at(&self.partner.uri(), 2_000))).await;
        let gateway = Arc::new(self.stack.gateway(Arc::clone(&settings), Arc::new(self.clock.clone())));
        (TestServer::start_gateway(self.stack.vault(settings), Arc::clone(&gateway)).await, gateway)
    }

    /// Stores `key` for tenant-a's BTG/PIX slot; returns the proxy.
    async fn store(&self, key: &str) -> String {
        let reply = self.server.post_credential("tenant-a", &credential_body(key, "BTG", "PIX"), "store").await;
        assert!(matches!(reply.status, 200 | 201), "{reply:?}");
        reply.body["proxy"].as_str().unwrap().to_owned()
    }

    async fn transfer(&self, tenant: &str, proxy: &str) -> Reply {
        let path = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers");
        self.server.call(tenant, "POST", &path, r#"{"amount":"10.00"}"#, &[("content-type", "application/json")]).await
    }

    async fn uses(&self, tenant: &str, proxy: &str, query: &str) -> Reply {
        self.server.call(tenant, "GET", &format!("/banking-auth/v1/credentials/{proxy}/uses{query}"), "", &[]).await
    }

    /// Requests the partner received on `path`.
    async fn received(&self, on: &str) -> Vec<Request> {
        self.partner.received_requests().await.unwrap().into_iter().filter(|r| r.url.path() == on).collect()
    }

    async fn token_calls(&self) -> usize {
        self.received("/oauth2/token").await.len()
    }
}

#[tokio::test]
async fn a_stored_key_reaches_the_partner_only_as_its_token_and_every_use_is_audited() {
    for backend in Backend::ALL {
        let w = World::new(backend).await;
        issues_tokens_for(&w.partner, "key-1", 300).await;
        transfers_with(&w.partner, "key-1").await;
        let proxy = w.store("key-1").await;
        assert_eq!(w.token_calls().await, 1, "create tests the key once");

        let path = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers?notify=true");
        let caller_token = w.server.token("tenant-a");
        let headers = [
            ("content-type", "application/json"),
            ("idempotency-key", "idem-1"),
            ("x-custom", "not-forwarded"),
            ("account_token", caller_token.as_str()),
            ("tracking_id", "use-1"),
        ];
        let reply = w.server.call("tenant-a", "POST", &path, r#"{"amount":"10.00"}"#, &headers).await;
        assert_eq!(reply.status, 201, "{backend:?}: {reply:?}");
        assert_eq!(reply.body, json!({ "end_to_end_id": "E123", "status": "PROCESSING", "via": "key-1" }));
        assert_eq!(reply.headers.get("x-request-id").map(String::as_str), Some("partner-req-1"));
        assert_eq!(reply.headers.get("tracking_id").map(String::as_str), Some("use-1"));
        assert!(!reply.headers.contains_key("set-cookie") && !reply.headers.contains_key("x-partner-internal"));

        let sent = w.received("/pix/v1/transfers").await;
        assert_eq!(sent.len(), 1);
        let sent = &sent[0];
        assert_eq!(sent.url.query(), Some("notify=true"));
        assert_eq!(sent.body, br#"{"amount":"10.00"}"#);
        assert_eq!(sent.headers["authorization"], format!("Bearer {}", token_for("key-1")).as_str());
        assert_eq!(sent.headers["idempotency-key"], "idem-1");
        assert!(sent.headers.get("x-custom").is_none() && sent.headers.get("account_token").is_none());
        assert!(sent.headers.get("tracking_id").is_none());

        assert_eq!(w.transfer("tenant-a", &proxy).await.status, 201);
        assert_eq!(w.token_calls().await, 2, "{backend:?}: one token call for the first use, none for the second");

        let listed = w.server.call("tenant-a", "GET", "/banking-auth/v1/credentials", "", &[]).await;
        let credential = &listed.body["credentials"][0];
        assert_eq!(listed.body["credentials"].as_array().unwrap().len(), 1);
        assert_eq!((credential["proxy"].as_str(), credential["version"].as_u64()), (Some(proxy.as_str()), Some(1)));
        assert_eq!(credential["provider_data"], json!({ "client_id": "client-123" }));
        assert!(credential["last_used_at"].is_string());
        assert!(!listed.text.contains("key-1"), "the key is never listed");

        let uses = w.uses("tenant-a", &proxy, "").await;
        assert_eq!(uses.status, 200, "{uses:?}");
        let page = uses.body["uses"].as_array().unwrap();
        assert_eq!(page.len(), 2);
        let first = &page[1];
        assert_eq!(
            (first["method"].as_str(), first["route"].as_str(), first["outcome"].as_str()),
            (Some("POST"), Some("/pix/v1/transfers"), Some("ANSWERED"))
        );
        assert_eq!((first["partner_status"].as_u64(), first["tracking_id"].as_str()), (Some(201), Some("use-1")));
        assert_eq!(
            (first["subject"].as_str(), first["credential_version"].as_u64()),
            (Some("local:tenant-a"), Some(1))
        );
        assert!(uses.body["next_cursor"].is_null());

        let revoked =
            w.server.call("tenant-a", "DELETE", &format!("/banking-auth/v1/credentials/{proxy}"), "", &[]).await;
        assert_eq!((revoked.status, revoked.body["message"].as_str()), (200, Some("Credential revoked")));
        let after = w.transfer("tenant-a", &proxy).await;
        assert_eq!((after.status, after.code()), (404, "EBAA0101"), "{backend:?}: revoked, also in a warm cache");
        assert_eq!(w.received("/pix/v1/transfers").await.len(), 2, "nothing reached the partner");
        assert!(w.gateway.sessions().is_empty(), "the revoked credential's token is dropped");
        assert!(
            w.stack.store.list(&cofre_domain::tenant::TenantId::parse("tenant-a").unwrap()).await.unwrap().is_empty()
        );
        let audit = w.uses("tenant-a", &proxy, "").await;
        assert_eq!(audit.body["uses"].as_array().unwrap().len(), 2, "the audit outlives the credential");
        let again =
            w.server.call("tenant-a", "DELETE", &format!("/banking-auth/v1/credentials/{proxy}"), "", &[]).await;
        assert_eq!((again.status, again.code()), (404, "EBAA0101"));
    }
}

#[tokio::test]
async fn another_tenants_or_an_unknown_proxy_is_not_found_and_touches_nothing() {
    for backend in Backend::ALL {
        let w = World::new(backend).await;
        issues_tokens_for(&w.partner, "key-1", 300).await;
        transfers_with(&w.partner, "key-1").await;
        let proxy = w.store("key-1").await;
        let unknown = format!("cfp_{}", "A".repeat(43));
        for (tenant, proxy) in [("tenant-b", proxy.as_str()), ("tenant-a", unknown.as_str()), ("tenant-a", "cfp_short")]
        {
            let reply = w.transfer(tenant, proxy).await;
            assert_eq!(reply.status, 404, "{backend:?} {tenant} {proxy}: {reply:?}");
            assert_eq!(reply.body, json!({ "code": "EBAA0101", "message": "Credential not found" }));
            assert_eq!(w.uses(tenant, proxy, "").await.code(), "EBAA0101");
            let past_the_end = w.uses(tenant, proxy, "?cursor=00000000000000000042-00000000000000ff").await;
            assert_eq!(past_the_end.code(), "EBAA0101", "a cursor does not skip the check");
        }
        let stolen =
            w.server.call("tenant-b", "DELETE", &format!("/banking-auth/v1/credentials/{proxy}"), "", &[]).await;
        assert_eq!((stolen.status, stolen.code()), (404, "EBAA0101"));
        let listed = w.server.call("tenant-b", "GET", "/banking-auth/v1/credentials", "", &[]).await;
        assert_eq!(listed.body, json!({ "credentials": [] }));
        assert_eq!(w.token_calls().await, 1, "only the create's test call reached the partner");
        assert_eq!(w.transfer("tenant-a", &proxy).await.status, 201, "tenant-a's credential still works");
    }
}

#[tokio::test]
async fn a_replaced_key_is_used_from_the_next_call_on() {
    for backend in Backend::ALL {
        let w = World::new(backend).await;
        for key in ["key-1", "key-2"] {
            issues_tokens_for(&w.partner, key, 300).await;
            transfers_with(&w.partner, key).await;
        }
        let proxy = w.store("key-1").await;
        assert_eq!(w.transfer("tenant-a", &proxy).await.body["via"], "key-1");
        assert_eq!(w.store("key-2").await, proxy, "a replace keeps the proxy");
        let reply = w.transfer("tenant-a", &proxy).await;
        assert_eq!((reply.status, reply.body["via"].as_str()), (201, Some("key-2")), "{backend:?}: {reply:?}");
        let uses = w.uses("tenant-a", &proxy, "").await;
        assert_eq!(uses.body["uses"][0]["credential_version"], 2);
    }
}

/// A warm instance does not read the store; a replace made by another one still reaches it at its
/// next call: the use's condition on the cached version fails, and the new key gets a new token.
#[tokio::test]
async fn a_replace_made_elsewhere_is_used_by_a_warm_instance_from_its_next_call_on() {
    for backend in Backend::ALL {
        let w = World::new(backend).await;
        for key in ["key-1", "key-2"] {
            issues_tokens_for(&w.partner, key, 300).await;
            transfers_with(&w.partner, key).await;
        }
        let proxy = w.store("key-1").await;
        for _ in 0..2 {
            assert_eq!(w.transfer("tenant-a", &proxy).await.body["via"], "key-1", "{backend:?}");
        }
        let warm_tokens = w.token_calls().await;
        assert_eq!(warm_tokens, 2, "{backend:?}: the create's test call and the first use; the second was warm");

        let (elsewhere, _) = w.instance().await;
        let replaced = elsewhere.post_credential("tenant-a", &credential_body("key-2", "BTG", "PIX"), "r").await;
        assert_eq!((replaced.status, replaced.body["proxy"].as_str()), (201, Some(proxy.as_str())), "{replaced:?}");
        let tokens = w.token_calls().await;
        let reply = w.transfer("tenant-a", &proxy).await;
        assert_eq!((reply.status, reply.body["via"].as_str()), (201, Some("key-2")), "{backend:?}: {reply:?}");
        let sent = w.received("/pix/v1/transfers").await;
        assert_eq!(
            sent.last().unwrap().headers["authorization"],
            format!("Bearer {}", token_for("key-2")).as_str(),
            "{backend:?}: the old version's token is not reused"
        );
        assert_eq!(w.token_calls().await - tokens, 1, "{backend:?}: one token for the new key");
        assert_eq!(w.transfer("tenant-a", &proxy).await.body["via"], "key-2", "{backend:?}: warm again");
        assert_eq!(w.token_calls().await - tokens, 1, "{backend:?}: on the new token");

        let uses = w.uses("tenant-a", &proxy, "").await;
        let versions: Vec<u64> =
            uses.body["uses"].as_array().unwrap().iter().map(|u| u["credential_version"].as_u64().unwrap()).collect();
        assert_eq!(versions, [2, 2, 1, 1], "{backend:?}: each use names the version it was made with");
        assert!(uses.body["uses"].as_array().unwrap().iter().all(|u| u["outcome"] == "ANSWERED"), "{backend:?}");
    }
}

/// A revoke made by another instance is a 404 in a warm one, whose cache still holds a fresh token:
/// through the failed condition of the use's write for an allowed call, through a read for a refused
/// one. Nothing is recorded and nothing reaches the partner.
#[tokio::test]
async fn a_revoke_made_elsewhere_is_not_found_in_a_warm_instance_and_touches_nothing() {
    for backend in Backend::ALL {
        let w = World::new(backend).await;
        issues_tokens_for(&w.partner, "key-1", 300).await;
        transfers_with(&w.partner, "key-1").await;
        let proxy = w.store("key-1").await;
        let (other, other_gateway) = w.instance().await;
        let path = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers");
        for server in [&w.server, &other] {
            assert_eq!(server.call("tenant-a", "POST", &path, "{}", &[]).await.status, 201, "{backend:?}: warmed");
        }
        assert_eq!(w.transfer("tenant-a", &proxy).await.status, 201, "{backend:?}");
        let before = (w.token_calls().await, w.received("/pix/v1/transfers").await.len());
        assert_eq!(before, (3, 3), "{backend:?}: the create's test call and one token per instance");
        let audit = w.uses("tenant-a", &proxy, "").await.body["uses"].clone();
        assert_eq!(audit.as_array().unwrap().len(), 3, "{backend:?}");

        let (elsewhere, _) = w.instance().await;
        let revoked =
            elsewhere.call("tenant-a", "DELETE", &format!("/banking-auth/v1/credentials/{proxy}"), "", &[]).await;
        assert_eq!(revoked.status, 200, "{backend:?}: {revoked:?}");

        assert_eq!(w.gateway.sessions().len(), 1, "{backend:?}: still warm when the call comes");
        let reply = w.transfer("tenant-a", &proxy).await;
        assert_eq!(reply.body, json!({ "code": "EBAA0101", "message": "Credential not found" }), "{backend:?}");
        assert_eq!(reply.status, 404);
        assert!(w.gateway.sessions().is_empty(), "{backend:?}: its token is dropped");

        // A call the allowlist refuses would have been a 403 from the cache alone: it is the same 404.
        assert_eq!(other_gateway.sessions().len(), 1, "{backend:?}");
        let refused = other.call("tenant-a", "GET", &format!("/banking-auth/v1/proxy/{proxy}/admin"), "", &[]).await;
        assert_eq!((refused.status, refused.code()), (404, "EBAA0101"), "{backend:?}: {refused:?}");
        assert!(other_gateway.sessions().is_empty(), "{backend:?}");

        assert_eq!((w.token_calls().await, w.received("/pix/v1/transfers").await.len()), before, "{backend:?}");
        assert_eq!(w.uses("tenant-a", &proxy, "").await.body["uses"], audit, "{backend:?}: nothing recorded");
        assert!(
            w.stack.store.list(&cofre_domain::tenant::TenantId::parse("tenant-a").unwrap()).await.unwrap().is_empty()
        );
    }
}

#[tokio::test]
async fn paths_that_leave_the_partner_base_are_refused_before_anything_happens() {
    let w = World::new(Backend::Local).await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    let proxy = w.store("key-1").await;
    let base = format!("/banking-auth/v1/proxy/{proxy}");
    for escape in [
        "/pix/../../admin",
        "/pix/v1/../../../oauth2/token",
        "/pix/%2e%2e/%2e%2e/admin",
        "/pix/%2E%2E/admin",
        "/pix/%252e%252e/admin",
        "/pix/%25252e%25252e/admin",
        "/pix/v1/transfers%2f..%2f..%2fadmin",
        "/pix/v1/dict/keys/a%2Fb",
        "//evil.example/pix/v1/transfers",
        "/http://evil.example/pix/v1/transfers",
        "/https:%2F%2Fevil.example",
        "/pix/v1/dict/keys/user@evil.example",
        "/pix/v1/dict/keys/user%40evil.example",
        "/pix/v1/dict/keys/a%5C..%5Cadmin",
        "/pix/v1/dict/keys/a%0d%0aX-Injected:%201",
        "/pix/v1/dict/keys/a%0A",
        "/pix/v1/dict/keys/a%00",
        "/pix/v1/dict/keys/a%2500",
        "/pix/v1/dict/keys/%zz",
        "/pix/v1/transfers/",
    ] {
        let (status, body) = w.server.raw_get("tenant-a", &format!("{base}{escape}")).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("EBAA0102")), "{escape}: {body}");
        assert_eq!(body["message"], "Invalid partner path");
    }
    // Bytes no HTTP client would send unescaped: refused by the server's HTTP parser or by us, 400 either way.
    for raw in ["/pix\\..\\admin", "/pix/v1/dict/keys/a\u{7f}b"] {
        let (status, _) = w.server.raw_get("tenant-a", &format!("{base}{raw}")).await;
        assert_eq!(status, 400, "{raw:?}");
    }
    let query = w.server.raw_get("tenant-a", &format!("{base}/pix/v1/transfers/E1?x=%0d%0aInjected:1")).await;
    assert_eq!((query.0, query.1["code"].as_str()), (400, Some("EBAA0102")));
    assert_eq!(w.token_calls().await, 1, "no token was asked for");
    assert_eq!(w.partner.received_requests().await.unwrap().len(), 1, "nothing but the create's test call");
    assert_eq!(w.uses("tenant-a", &proxy, "").await.body["uses"], json!([]), "nothing recorded");
}

#[tokio::test]
async fn operations_outside_the_types_allowlist_are_forbidden_and_touch_nothing() {
    let w = World::new(Backend::Local).await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    let proxy = w.store("key-1").await;
    for (verb, partner_path) in [
        ("GET", "/admin/users"),
        ("POST", "/oauth2/token"),
        ("GET", "/pix/v1/transfers"),
        ("DELETE", "/pix/v1/transfers"),
        ("POST", "/pix/v1/transfers/E1"),
        ("GET", "/pix/v1/transfers/E1/extra"),
        ("GET", "/baas/v1/accounts/1/balance"),
        ("POST", "/api/v1/cash-out"),
    ] {
        let reply =
            w.server.call("tenant-a", verb, &format!("/banking-auth/v1/proxy/{proxy}{partner_path}"), "", &[]).await;
        assert_eq!(
            reply.body,
            json!({ "code": "EBAA0103", "message": "Operation not allowed for this credential" }),
            "{verb} {partner_path}"
        );
        assert_eq!(reply.status, 403);
    }
    let head = w
        .server
        .call("tenant-a", "OPTIONS", &format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers"), "", &[])
        .await;
    assert_eq!(head.status, 405);
    assert_eq!(w.partner.received_requests().await.unwrap().len(), 1, "nothing but the create's test call");
    assert_eq!(w.uses("tenant-a", &proxy, "").await.body["uses"], json!([]));
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_then_the_failure_is_documented() {
    let w = World::new(Backend::Local).await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    let proxy = w.store("key-1").await;
    Mock::given(method("POST"))
        .and(path("/pix/v1/transfers"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": "invalid_token" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w.partner)
        .await;
    transfers_with(&w.partner, "key-1").await;
    let reply = w.transfer("tenant-a", &proxy).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!((w.token_calls().await, w.received("/pix/v1/transfers").await.len()), (3, 2), "refreshed, retried");

    w.partner.reset().await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    Mock::given(method("POST"))
        .and(path("/pix/v1/transfers"))
        .respond_with(ResponseTemplate::new(401).set_body_string("token revoked"))
        .mount(&w.partner)
        .await;
    let reply = w.transfer("tenant-a", &proxy).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (502, json!({ "code": "EBAA0104", "message": "BTG - Partner refused a fresh access token" }))
    );
    assert_eq!((w.token_calls().await, w.received("/pix/v1/transfers").await.len()), (1, 2), "once, not in a loop");
    let last = &w.uses("tenant-a", &proxy, "").await.body["uses"][0];
    assert_eq!((last["outcome"].as_str(), last["error_code"].as_str()), (Some("FAILED"), Some("EBAA0104")));
    assert_eq!(last["partner_status"], 401);
}

/// Each partner failure, the answer it gets, and the partner status the audit keeps.
#[tokio::test]
async fn partner_failures_answer_the_documented_codes_and_are_audited() {
    let w = World::with_timeout(Backend::Local, 300).await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    let proxy = w.store("key-1").await;
    // (partner path, its answer, our status, our code, the partner status the audit keeps)
    type Case = (&'static str, ResponseTemplate, u16, Option<&'static str>, Option<u16>);
    let cases: Vec<Case> = vec![
        ("/pix/v1/dict/keys/down", ResponseTemplate::new(503), 502, Some("EBAA0002"), Some(503)),
        (
            "/pix/v1/dict/keys/moved",
            ResponseTemplate::new(302).insert_header("location", "https://evil.example/"),
            502,
            Some("EBAA0002"),
            Some(302),
        ),
        (
            "/pix/v1/dict/keys/slow",
            ResponseTemplate::new(200).set_delay(Duration::from_millis(900)),
            504,
            Some("EBAA0003"),
            None,
        ),
        (
            "/pix/v1/dict/keys/huge",
            ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 1024 * 1024 + 1]),
            502,
            Some("EBAA0002"),
            None,
        ),
        (
            "/pix/v1/dict/keys/echo",
            ResponseTemplate::new(200).set_body_string(format!("debug: Bearer {}", token_for("key-1"))),
            502,
            Some("EBAA0002"),
            Some(200),
        ),
        // The partner's own refusals are its answer to the tenant, passed through.
        (
            "/pix/v1/dict/keys/missing",
            ResponseTemplate::new(404).set_body_json(json!({ "error": "key not found" })),
            404,
            None,
            Some(404),
        ),
        (
            "/pix/v1/dict/keys/bad",
            ResponseTemplate::new(422).set_body_json(json!({ "error": "invalid key" })),
            422,
            None,
            Some(422),
        ),
    ];
    for (partner_path, template, status, code, audited_status) in cases {
        Mock::given(method("GET")).and(path(partner_path)).respond_with(template).mount(&w.partner).await;
        let reply =
            w.server.call("tenant-a", "GET", &format!("/banking-auth/v1/proxy/{proxy}{partner_path}"), "", &[]).await;
        assert_eq!(reply.status, status, "{partner_path}: {reply:?}");
        assert!(!reply.text.contains(&token_for("key-1")), "{partner_path}: the token never comes back");
        let last = &w.uses("tenant-a", &proxy, "?limit=1").await.body["uses"][0];
        match code {
            Some(code) => {
                assert_eq!(reply.code(), code, "{partner_path}");
                assert_eq!((last["outcome"].as_str(), last["error_code"].as_str()), (Some("FAILED"), Some(code)));
            }
            None => assert_eq!(last["outcome"], "ANSWERED", "{partner_path}"),
        }
        assert_eq!(last["partner_status"].as_u64(), audited_status.map(u64::from), "{partner_path}");
        assert_eq!(last["route"], "/pix/v1/dict/keys/{key}");
    }
    let too_big = "x".repeat(64 * 1024 + 1);
    let reply = w
        .server
        .call("tenant-a", "POST", &format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers"), &too_big, &[])
        .await;
    assert_eq!((reply.status, reply.code()), (413, "EBAA0105"));
    assert!(w.received("/pix/v1/transfers").await.is_empty());
}

#[tokio::test]
async fn an_unreachable_partner_or_a_refused_stored_key_is_documented() {
    // Unreachable: a port nothing listens on.
    let stack = Stack::new(Backend::Local).await;
    let partner = MockServer::start().await;
    issues_tokens_for(&partner, "key-1", 300).await;
    let reachable = stack.partner_settings(Some(&gateway_partners_at(&partner.uri(), 2_000))).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = stack.partner_settings(Some(&gateway_partners_at(&format!("http://{closed}"), 2_000))).await;
    let gateway = Arc::new(stack.gateway(unreachable, Arc::new(cofre_domain::clock::SystemClock)));
    let server = TestServer::start_gateway(stack.vault(reachable), gateway).await;
    let stored = server.post_credential("tenant-a", &credential_body("key-1", "BTG", "PIX"), "s").await;
    let proxy = stored.body["proxy"].as_str().unwrap();
    let reply =
        server.call("tenant-a", "POST", &format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers"), "{}", &[]).await;
    assert_eq!((reply.status, reply.code()), (502, "EBAA0002"), "{reply:?}");

    // The partner no longer accepts the stored key: the tenant must replace it.
    let w = World::new(Backend::Local).await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "access_token": "t", "expires_in": 60 })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w.partner)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": "invalid_client" })))
        .mount(&w.partner)
        .await;
    let proxy = w.store("key-1").await;
    let reply = w.transfer("tenant-a", &proxy).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (422, json!({ "code": "EBAA0018", "message": "BTG - API Invalid credential" }))
    );
    assert!(w.received("/pix/v1/transfers").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_cold_uses_share_one_token_call() {
    for backend in Backend::ALL {
        let w = World::new(backend).await;
        issues_tokens_for(&w.partner, "key-1", 300).await;
        transfers_with(&w.partner, "key-1").await;
        let proxy = w.store("key-1").await;
        let before = (w.token_calls().await, w.stack.kms_trips.operations());
        let calls = (0..100).map(|_| {
            let (server, proxy) = (w.server.clone(), proxy.clone());
            tokio::spawn(async move {
                let path = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers");
                server.call("tenant-a", "POST", &path, r#"{"amount":"1.00"}"#, &[]).await.status
            })
        });
        let statuses: Vec<u16> = futures_join(calls).await;
        assert!(statuses.iter().all(|s| *s == 201), "{backend:?}: {statuses:?}");
        assert_eq!(w.token_calls().await - before.0, 1, "{backend:?}: exactly one token call");
        let decrypts = w.stack.kms_trips.operations().iter().skip(before.1.len()).filter(|o| *o == "Decrypt").count();
        if backend == Backend::Aws {
            assert_eq!(decrypts, 1, "one KMS Decrypt for the hundred");
        }
        let page = w.uses("tenant-a", &proxy, "?limit=100").await;
        assert_eq!(page.body["uses"].as_array().unwrap().len(), 100, "every use audited");
    }
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire_without_waiting_for_a_refusal() {
    let w = World::new(Backend::Local).await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    transfers_with(&w.partner, "key-1").await;
    let proxy = w.store("key-1").await;
    assert_eq!(w.transfer("tenant-a", &proxy).await.status, 201);
    assert_eq!(w.token_calls().await, 2);
    w.clock.advance(Duration::from_secs(239));
    assert_eq!(w.transfer("tenant-a", &proxy).await.status, 201);
    assert_eq!(w.token_calls().await, 2, "still fresh at 239 s of 300");
    w.clock.advance(Duration::from_secs(1));
    assert_eq!(w.transfer("tenant-a", &proxy).await.status, 201);
    assert_eq!(w.token_calls().await, 3, "refreshed a minute before the partner's expiry");
}

#[tokio::test]
async fn uses_page_newest_first_with_a_cursor() {
    let w = World::new(Backend::Local).await;
    issues_tokens_for(&w.partner, "key-1", 300).await;
    transfers_with(&w.partner, "key-1").await;
    let proxy = w.store("key-1").await;
    for i in 0..5 {
        let headers = [("tracking_id", format!("use-{i}"))];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = format!("/banking-auth/v1/proxy/{proxy}/pix/v1/transfers");
        assert_eq!(w.server.call("tenant-a", "POST", &path, r#"{"amount":"1"}"#, &headers).await.status, 201);
    }
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = w.uses("tenant-a", &proxy, &query).await;
        assert_eq!(page.status, 200, "{page:?}");
        seen.extend(
            page.body["uses"].as_array().unwrap().iter().map(|u| u["tracking_id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["use-4", "use-3", "use-2", "use-1", "use-0"]);
    for bad in ["?limit=0", "?limit=101", "?cursor=nope", "?page=2"] {
        let reply = w.uses("tenant-a", &proxy, bad).await;
        assert_eq!((reply.status, reply.code()), (400, "EBAA0004"), "{bad}");
        assert!(reply.body["details"].is_string());
    }
}

/// Every file under `dir`, concatenated: what an attacker with the disk would read.
fn disk(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            bytes.extend(disk(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The canary key and the canary partner token never reach a response, a header, a log line (TRACE,
/// every crate), the audit or the disk, on any path of the gateway, on either backend.
#[tokio::test(flavor = "current_thread")]
async fn neither_the_key_nor_the_partner_token_leaves_cofre() {
    let capture = cofre_tests::LogCapture::default();
    let _capturing = capture.scoped("trace,wiremock=off");

    let (key, token) = ("CANARY-KEY-5f3a9c", "CANARY-TOKEN-8d21e7");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client-123:{key}"));
    let mut seen = String::new();
    for backend in Backend::ALL {
        let w = World::with_timeout(backend, 300).await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "access_token": token, "expires_in": 300 })))
            .mount(&w.partner)
            .await;
        let partner_answers: [(&str, ResponseTemplate); 5] = [
            ("/pix/v1/dict/keys/ok", ResponseTemplate::new(200).set_body_json(json!({ "key": "ok" }))),
            ("/pix/v1/dict/keys/refused", ResponseTemplate::new(401).set_body_string("expired")),
            ("/pix/v1/dict/keys/echo", ResponseTemplate::new(200).set_body_string(format!("Bearer {token}"))),
            ("/pix/v1/dict/keys/down", ResponseTemplate::new(503)),
            ("/pix/v1/dict/keys/slow", ResponseTemplate::new(200).set_delay(Duration::from_millis(600))),
        ];
        for (on, template) in partner_answers.iter().cloned() {
            Mock::given(method("GET")).and(path(on)).respond_with(template).mount(&w.partner).await;
        }
        let proxy = w.store(key).await;
        let base = format!("/banking-auth/v1/proxy/{proxy}");
        let mut replies = Vec::new();
        for (on, _) in &partner_answers {
            replies.push(w.server.call("tenant-a", "GET", &format!("{base}{on}"), "", &[]).await);
        }
        for (verb, target) in [("GET", format!("{base}/admin")), ("POST", format!("{base}/pix/v1/transfers"))] {
            replies.push(w.server.call("tenant-a", verb, &target, r#"{"amount":"1"}"#, &[]).await);
        }
        replies.push(w.uses("tenant-a", &proxy, "").await);
        replies.push(w.server.call("tenant-a", "GET", "/banking-auth/v1/credentials", "", &[]).await);
        replies
            .push(w.server.call("tenant-a", "DELETE", &format!("/banking-auth/v1/credentials/{proxy}"), "", &[]).await);
        replies.push(w.server.call("tenant-a", "GET", &format!("{base}/pix/v1/dict/keys/ok"), "", &[]).await);
        assert_eq!(replies[0].status, 200, "{backend:?}: the happy path ran");
        for reply in &replies {
            seen.push_str(&format!("{:?} {} {:?}\n", reply.headers, reply.status, reply.text));
        }
        let stored = match &w.stack.dynamodb {
            Some((client, table)) => format!("{:?}", client.scan().table_name(table).send().await.unwrap().items()),
            None => String::from_utf8_lossy(&disk(w.stack.data_dir.path())).into_owned(),
        };
        for secret in [key, token, basic.as_str()] {
            assert!(!contains(stored.as_bytes(), secret), "{backend:?}: {secret} is stored in clear");
        }
    }
    let logs = capture.text();
    assert!(logs.contains("partner access token issued"), "the capture saw the gateway");
    for secret in [key, token, basic.as_str()] {
        assert!(!seen.contains(secret), "{secret} reached a response or header");
        assert!(!logs.contains(secret), "{secret} reached a log line");
    }
}
