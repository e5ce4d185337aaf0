//! No key reaches a log line: every log line (TRACE and up, every crate: ours, hyper, reqwest, the
//! AWS SDK) of every request lifecycle, success and each error path, on both backends, is captured
//! and searched for the key, in clear and in the Basic-auth encoding BTG receives it in.

use std::time::Duration;

use base64::Engine;
use cofre_tests::wiremock::matchers::{method, path};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, LogCapture, Stack, TestServer, credential_body, partners_at};

/// A key unique to a scenario, so a leak names where it happened.
fn key(scenario: &str) -> String {
    format!("SECRET-{scenario}-Zq7pL2")
}

fn leaks(logs: &str, key: &str) -> bool {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client-123:{key}"));
    logs.contains(key) || logs.contains(&basic) || logs.contains(&key.replace('-', "%2D"))
}

#[tokio::test(flavor = "current_thread")]
async fn no_key_reaches_any_log_line_on_any_path() {
    let capture = LogCapture::default();
    // The production layer (payload guard included), at TRACE for everything but the fake partner,
    // whose own logs are the partner's business: it legitimately sees keys.
    // This test's runtime is one thread, so a thread-local subscriber sees every request it drives
    // (server, client, SDK), and none of the other tests running beside it in this binary.
    let _capturing = capture.scoped("trace,wiremock=off");

    let mut scenarios: Vec<(String, String)> = Vec::new();
    for backend in Backend::ALL {
        let partner = MockServer::start().await;
        let answers = [
            ("ok", ResponseTemplate::new(200).set_body_string(r#"{"access_token":"t"}"#)),
            ("refused", ResponseTemplate::new(401).set_body_string(r#"{"error":"invalid_client"}"#)),
            ("down", ResponseTemplate::new(503)),
            ("slow", ResponseTemplate::new(200).set_delay(Duration::from_millis(800))),
        ];
        let stack = Stack::new(backend).await;
        let mut servers = Vec::new();
        for (name, template) in answers {
            let prefix = format!("/{name}");
            Mock::given(method("POST"))
                .and(path(format!("{prefix}/oauth2/token")))
                .respond_with(template.clone())
                .mount(&partner)
                .await;
            Mock::given(method("POST"))
                .and(path(format!("{prefix}/v5/token")))
                .respond_with(template)
                .mount(&partner)
                .await;
            let settings = stack.partner_settings(Some(&partners_at(&format!("{}{prefix}", partner.uri()), 200))).await;
            servers.push((name, TestServer::start(stack.vault(settings)).await));
        }
        let run = |server: &TestServer, scenario: String, body: String| {
            let server = server.clone();
            async move {
                let tracking = format!("track-{scenario}");
                let reply = server.post_credential("tenant-a", &body, &tracking).await;
                (scenario, tracking, reply.status)
            }
        };
        let mut outcomes = Vec::new();
        for (name, server) in &servers {
            for provider in ["BTG", "CELCOIN"] {
                let scenario = format!("{backend:?}-{name}-{provider}");
                outcomes.push(run(server, scenario.clone(), credential_body(&key(&scenario), provider, "PIX")).await);
                let replace = format!("{scenario}-again");
                outcomes.push(run(server, replace.clone(), credential_body(&key(&replace), provider, "PIX")).await);
            }
        }
        let ok = &servers[0].1;
        for (label, body) in [
            (
                "wrongtype",
                format!(
                    r#"{{"key":{{"nested":"{}"}},"provider":"BTG","type":"PIX"}}"#,
                    key(&format!("{backend:?}-wrongtype"))
                ),
            ),
            (
                "missing",
                format!(r#"{{"key":"{}","provider":"BTG","type":"PIX"}}"#, key(&format!("{backend:?}-missing"))),
            ),
            (
                "unsupported",
                format!(
                    r#"{{"key":"{}","provider":"JDPI","type":"BAAS","provider_data":{{"client_id":"c"}}}}"#,
                    key(&format!("{backend:?}-unsupported"))
                ),
            ),
            (
                "unknownfield",
                format!(
                    r#"{{"key":"k","provider":"BTG","type":"PIX","{}":1}}"#,
                    key(&format!("{backend:?}-unknownfield"))
                ),
            ),
            ("noconfig", credential_body(&key(&format!("{backend:?}-noconfig")), "JDPI", "PIX")),
        ] {
            outcomes.push(run(ok, format!("{backend:?}-{label}"), body).await);
        }
        // Unauthenticated, key in the body.
        let unauthenticated = format!("{backend:?}-unauthenticated");
        ok.client
            .post(format!("{}/banking-auth/v1/credentials", ok.base_url))
            .header("tracking_id", format!("track-{unauthenticated}"))
            .body(credential_body(&key(&unauthenticated), "BTG", "PIX"))
            .send()
            .await
            .unwrap();
        outcomes.push((unauthenticated.clone(), format!("track-{unauthenticated}"), 401));
        // Store failures: the write is refused after the key was tested and sealed.
        match backend {
            Backend::Local => {
                let db = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
                db.execute_batch("CREATE TRIGGER refuse BEFORE INSERT ON items BEGIN SELECT RAISE(ABORT, 'no'); END;")
                    .unwrap();
            }
            Backend::Aws => {
                let (client, table) = stack.dynamodb.as_ref().unwrap();
                client.delete_table().table_name(table).send().await.unwrap();
            }
        }
        let storefail = format!("{backend:?}-storefail");
        outcomes.push(run(ok, storefail.clone(), credential_body(&key(&storefail), "CELCOIN", "BAAS")).await);

        let statuses: Vec<u16> = outcomes.iter().map(|o| o.2).collect();
        for expected in [201, 400, 502, 504, 500] {
            assert!(statuses.contains(&expected), "{backend:?}: the scenarios cover HTTP {expected}: {statuses:?}");
        }
        scenarios.extend(outcomes.into_iter().map(|(scenario, tracking, _)| (scenario, tracking)));
    }

    scenarios.extend(merchant_scenarios().await);
    let pans = authorization_scenarios().await;
    let hmac_keys = hmac_rotation_scenarios().await;
    // A request's last lines are written as its span closes, which can be after its answer was read:
    // wait for every scenario's lines (a few seconds at most) rather than a fixed pause.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline
        && !scenarios.iter().all(|(_, tracking)| capture.text().contains(tracking.as_str()))
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The Lambda runtime logs whole events (body, Authorization header) at TRACE: held back.
    tracing::trace!(target: "lambda_runtime::layers::api_response", payload = %key("runtime-event"), "raw event");
    tracing::debug!(target: "lambda_http::request", payload = %key("http-event"), "raw request");
    tracing::info!(target: "lambda_runtime", marker = "runtime-info-visible", "runtime info");
    scenarios.push(("runtime-event".into(), "track-".into()));
    scenarios.push(("http-event".into(), "track-".into()));
    let logs = capture.text();
    assert!(logs.lines().count() > 100, "the capture works: {} lines", logs.lines().count());
    for (scenario, tracking) in &scenarios {
        assert!(logs.contains(tracking.as_str()), "{scenario}: its lines carry its tracking_id");
        for suffix in ["", "-key", "-secret", "-mid"] {
            assert!(
                !leaks(&logs, &key(&format!("{scenario}{suffix}"))),
                "{scenario}{suffix}: a credential reached the logs"
            );
        }
    }
    for pan in &pans {
        assert!(!logs.contains(pan.as_str()), "a PAN reached the logs");
    }
    for (name, key) in &hmac_keys {
        let base64 = base64::engine::general_purpose::STANDARD.encode(key);
        let text = String::from_utf8_lossy(key);
        assert!(!logs.contains(&base64) && !logs.contains(text.as_ref()), "HMAC key {name} reached the logs");
    }
    // The credentials seeded as "old" (see merchant_fixture) never appear either.
    for old in ["sk_old", "cp_user", "cp_pass", "496160873888", "sk_b"] {
        assert!(!logs.contains(old), "old credential {old} reached the logs");
    }
    assert!(logs.contains("\"level\":\"TRACE\""), "TRACE lines were captured");
    assert!(logs.contains("runtime-info-visible"), "the runtime's INFO lines still pass");
}

/// Every path of `PATCH …/connection/{id}` on both backends, with new key/secret/mid values unique
/// to each scenario and the fixture's old ones: returns (scenario, tracking_id) pairs.
async fn merchant_scenarios() -> Vec<(String, String)> {
    use cofre_tests::{merchant_fixture, processors_at};
    let mut scenarios = Vec::new();
    for backend in Backend::ALL {
        let processor = MockServer::start().await;
        let stack = Stack::new(backend).await;
        stack.seeder().seed(&merchant_fixture()).await.unwrap();
        let answers = [
            ("ok", ResponseTemplate::new(200).set_body_string("{}")),
            ("refused", ResponseTemplate::new(401).set_body_string(r#"{"error":"invalid api key"}"#)),
            ("down", ResponseTemplate::new(503)),
            ("slow", ResponseTemplate::new(200).set_delay(Duration::from_millis(800))),
        ];
        let mut servers = Vec::new();
        for (name, template) in answers {
            Mock::given(method("GET"))
                .and(cofre_tests::wiremock::matchers::path_regex(format!("^/{name}/.*")))
                .respond_with(template.clone())
                .mount(&processor)
                .await;
            Mock::given(method("POST"))
                .and(cofre_tests::wiremock::matchers::path_regex(format!("^/{name}/.*")))
                .respond_with(template)
                .mount(&processor)
                .await;
            let settings =
                stack.partner_settings(Some(&processors_at(&format!("{}/{name}", processor.uri()), 200))).await;
            servers.push((name, TestServer::start_merchants(stack.connections(settings)).await));
        }
        let full = |scenario: &str, existing: serde_json::Value| {
            serde_json::json!({
                "key": key(&format!("{scenario}-key")),
                "secret": key(&format!("{scenario}-secret")),
                "mid": key(&format!("{scenario}-mid")),
                "existingCredentials": existing,
            })
        };
        let old_full = serde_json::json!({ "key": "cp_user", "secret": "cp_pass", "mid": "496160873888" });
        let mut run = Vec::new();
        for (name, server) in &servers {
            let scenario = format!("{backend:?}-merchant-{name}");
            // A rotation of a full CardPointe set (old and new key/secret/mid in one request) and a
            // first set on an empty Braintree connection.
            run.push((server.clone(), scenario.clone(), "midCon_full", full(&scenario, old_full.clone())));
            let first = format!("{scenario}-first");
            let mut body = full(&first, serde_json::Value::Null);
            body.as_object_mut().unwrap().remove("existingCredentials");
            run.push((server.clone(), first, "midCon_braintree", body));
        }
        let ok = servers[0].1.clone();
        let refusals = [
            ("mismatch", "midCon_stripe", serde_json::json!({ "existingCredentials": { "secret": "sk_old_wrong" } })),
            ("exists", "midCon_stripe", serde_json::json!({})),
            ("nothingonfile", "midCon_affinipay", serde_json::json!({ "existingCredentials": { "secret": "sk_old" } })),
            ("notfound", "midCon_nowhere", serde_json::json!({})),
            ("missing", "midCon_anet", serde_json::json!({})),
        ];
        for (label, connection, extra) in refusals {
            let scenario = format!("{backend:?}-merchant-{label}");
            let mut body = serde_json::json!({ "secret": key(&format!("{scenario}-secret")) });
            if label == "missing" {
                body = serde_json::json!({ "mid": key(&format!("{scenario}-mid")) });
            }
            if let Some(existing) = extra.get("existingCredentials") {
                body["existingCredentials"] = existing.clone();
            }
            run.push((ok.clone(), scenario, connection, body));
        }
        let scenario = format!("{backend:?}-merchant-wrongtype");
        run.push((
            ok.clone(),
            scenario.clone(),
            "midCon_square",
            serde_json::json!({ "key": [key(&format!("{scenario}-key"))] }),
        ));
        let scenario = format!("{backend:?}-merchant-unknownfield");
        let mut body = serde_json::Map::new();
        body.insert(key(&format!("{scenario}-key")), serde_json::json!("v"));
        run.push((ok.clone(), scenario, "midCon_square", serde_json::Value::Object(body)));

        for (server, scenario, connection, body) in run {
            let tracking = format!("track-{scenario}");
            let response = server
                .client
                .patch(format!("{}/v1/merchants/mid_test_a/connection/{connection}", server.base_url))
                .bearer_auth(server.token("tenant-a"))
                .header("tracking_id", &tracking)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            for suffix in ["-key", "-secret", "-mid"] {
                assert!(
                    !text.contains(&key(&format!("{scenario}{suffix}"))),
                    "{scenario}: a credential came back in the response"
                );
            }
            assert!(status != 500, "{scenario}: {text}");
            scenarios.push((scenario, tracking));
        }
        let unauthenticated = format!("{backend:?}-merchant-unauthenticated");
        ok.client
            .patch(format!("{}/v1/merchants/mid_test_a/connection/midCon_stripe", ok.base_url))
            .header("tracking_id", format!("track-{unauthenticated}"))
            .body(serde_json::json!({ "secret": key(&format!("{unauthenticated}-secret")) }).to_string())
            .send()
            .await
            .unwrap();
        scenarios.push((unauthenticated.clone(), format!("track-{unauthenticated}")));
    }
    scenarios
}

/// Authorizations by PAN on every path (approved, each denial, bad requests, overrides, replays) on
/// both backends; returns every PAN used. Responses are checked too: a PAN never comes back.
async fn authorization_scenarios() -> Vec<String> {
    let pans: Vec<String> = [
        "4111111111111111",
        "5555555555554444",
        "4000000000000002",
        "4000000000000010",
        "4000000000000028",
        "4999999999999999",
    ]
    .map(str::to_owned)
    .to_vec();
    for backend in Backend::ALL {
        let stack = Stack::new(backend).await;
        stack.seed_accounts(&cofre_tests::account_fixture()).await;
        let server = TestServer::start_authorizations(stack.authorizer()).await;
        let mut bodies = Vec::new();
        for (i, pan) in pans.iter().enumerate() {
            for (mode, amount) in [("CREDIT", "1.00"), ("DEBIT", "5000.00")] {
                bodies.push(format!(
                    r#"{{"mti":"0100","amount":{amount},"currency":"BRL","network":"VISA","card":{{"pan":"{pan}","cvv":"123"}},"mode":"{mode}","entry_mode":"051","processing_code":"003000","tracking_id":"pan-{backend:?}-{i}-{mode}"}}"#
                ));
            }
            bodies.push(format!(r#"{{"mti":"0100","amount":1,"currency":"BRL","network":"VISA","card":{{"pan":"{pan}x"}},"mode":"CREDIT","entry_mode":"01","processing_code":"1"}}"#));
            bodies.push(format!(r#"{{"mti":"0100","amount":1,"currency":"BRL","network":"VISA","card":{{"pan":"{pan}","track":"{pan}"}},"mode":"CREDIT","entry_mode":"01","processing_code":"1"}}"#));
            bodies.push(format!(r#"{{"mti":"0100","amount":1,"currency":"BRL","network":"VISA","card":{{"pan":{pan}}},"mode":"CREDIT","entry_mode":"01","processing_code":"1"}}"#));
            bodies.push(format!(r#"{{"mti":"0100","amount":1,"currency":"BRL","network":"VISA","card":{{"pan":"{pan}"}},"mode":"CREDIT","entry_mode":"01","processing_code":"1","validation_rules":{{"LEDGER":{{"force":true}}}}}}"#));
        }
        for body in bodies.iter().chain(bodies.iter().take(4)) {
            for scope in [None, Some("authorizations:override")] {
                let token = server
                    .tokens
                    .mint(
                        &cofre_domain::tenant::TenantId::parse("tenant-a").unwrap(),
                        scope,
                        std::time::Duration::from_secs(60),
                    )
                    .unwrap();
                let response = server
                    .client
                    .post(format!("{}/payment-methods/v1/authorization", server.base_url))
                    .bearer_auth(token)
                    .header("tracking_id", "track-pan")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let text = response.text().await.unwrap();
                for pan in &pans {
                    assert!(!text.contains(pan.as_str()), "{backend:?}: a PAN came back in a response: {text}");
                }
            }
        }
        for event in stack.events().await {
            for pan in &pans {
                assert!(!event.to_string().contains(pan.as_str()), "{backend:?}: a PAN reached an event");
            }
        }
    }
    pans
}

/// The HMAC key's rotation on both backends, each step and each refusal (a key still in use, a key
/// retired too early, a keyring document the secret cannot be read as), with requests between them;
/// returns every HMAC key used, by name.
async fn hmac_rotation_scenarios() -> Vec<(String, Vec<u8>)> {
    use cofre_domain::crypto::HmacKeySource;
    use cofre_domain::secret::SecretBytes;
    let mut keys = Vec::new();
    for backend in Backend::ALL {
        let mut stack = Stack::new(backend).await;
        stack.seeder().seed(&cofre_tests::merchant_fixture()).await.unwrap();
        stack.seed_accounts(&cofre_tests::account_fixture()).await;
        let rotation = stack.hmac_rotation();
        let first = stack.hmac_keyring.load().await.unwrap();
        let encoded = first.document().keys.values().next().unwrap().clone();
        keys.push((format!("{backend:?}-first"), base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()));
        let added = format!("HMAC-{backend:?}-added-key-material-Zq7pL2xx").into_bytes();
        keys.push((format!("{backend:?}-added"), added.clone()));
        let id = rotation.add(SecretBytes::new(added)).await.unwrap();
        rotation.make_current(&id).await.unwrap();
        let old = first.current().clone();
        assert!(rotation.retire(&old).await.is_err());
        stack.hmac = stack.fresh_hmac();
        let server = TestServer::start_authorizations(stack.authorizer()).await;
        let pan = serde_json::json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA", "account_id": 1001,
            "card": { "pan": "4111111111111111" }, "mode": "CREDIT", "entry_mode": "01", "processing_code": "003000" });
        assert_eq!(server.authorize("tenant-a", None, &pan).await.status, 200);
        // Retired too early: every comparison is refused, with the key's id only.
        let retired = stack.hmac_keyring.load().await.unwrap().without(&old).unwrap();
        stack.hmac_keyring.save(&retired).await.unwrap();
        stack.hmac = stack.fresh_hmac();
        let server = TestServer::start_authorizations(stack.authorizer()).await;
        assert_eq!(server.authorize("tenant-a", None, &pan).await.status, 500);
        assert!(stack.account_seeder().seed(&cofre_tests::account_fixture()).await.is_err());
        rotation.rehash().await.unwrap();
        rotation.usage().await.unwrap();
        if backend == Backend::Aws {
            // A document the secret cannot be read as, holding a key: refused (or the keyring held is
            // kept), never echoed.
            let held = cofre_aws::SecretsManagerHmacKey::new(
                cofre_tests::secrets_client(&cofre_tests::moto_sdk_config(), &Default::default()),
                stack.hmac_secret.clone().unwrap(),
            )
            .refreshed_every(Duration::ZERO);
            held.hmac_keyring().await.unwrap();
            let leaked = b"HMAC-bad-document-key-material-Zq7pL2".to_vec();
            keys.push(("bad-document".into(), leaked.clone()));
            let encoded = base64::engine::general_purpose::STANDARD.encode(&leaked);
            for bad in
                [format!(r#"{{"current":"k9","keys":{{"k1":"{encoded}"}}}}"#), format!(r#"{{"keys":"{encoded}"}}"#)]
            {
                let client = cofre_tests::secrets_client(&cofre_tests::moto_sdk_config(), &Default::default());
                client
                    .put_secret_value()
                    .secret_id(stack.hmac_secret.clone().unwrap())
                    .secret_string(bad)
                    .send()
                    .await
                    .unwrap();
                held.hmac_keyring().await.unwrap();
                assert!(stack.fresh_hmac().hmac_keyring().await.is_err());
                assert!(rotation.keyring().await.is_err());
            }
        }
    }
    keys
}
