//! No key reaches a log line: every log line (TRACE and up, every crate: ours, hyper, reqwest, the
//! AWS SDK) of every request lifecycle, success and each error path, on both backends, is captured
//! and searched for the key, in clear and in the Basic-auth encoding BTG receives it in.

use std::time::Duration;

use base64::Engine;
use cofre_tests::wiremock::matchers::{method, path};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, LogCapture, Stack, TestServer, credential_body, partners_at};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A key unique to a scenario, so a leak names where it happened.
fn key(scenario: &str) -> String {
    format!("SECRET-{scenario}-Zq7pL2")
}

fn leaks(logs: &str, key: &str) -> bool {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client-123:{key}"));
    logs.contains(key) || logs.contains(&basic) || logs.contains(&key.replace('-', "%2D"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_reaches_any_log_line_on_any_path() {
    let capture = LogCapture::default();
    // The production layer (payload guard included), at TRACE for everything but the fake partner,
    // whose own logs are the partner's business: it legitimately sees keys.
    let filter = tracing_subscriber::EnvFilter::new("trace,wiremock=off");
    tracing_subscriber::registry().with(cofre::telemetry::json_layer(capture.clone(), filter)).init();

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
        for expected in [201, 200, 400, 502, 504, 500] {
            assert!(statuses.contains(&expected), "{backend:?}: the scenarios cover HTTP {expected}: {statuses:?}");
        }
        scenarios.extend(outcomes.into_iter().map(|(scenario, tracking, _)| (scenario, tracking)));
    }

    tokio::time::sleep(Duration::from_millis(100)).await;
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
        assert!(!leaks(&logs, &key(scenario)), "{scenario}: the key reached the logs");
    }
    assert!(logs.contains("\"level\":\"TRACE\""), "TRACE lines were captured");
    assert!(logs.contains("runtime-info-visible"), "the runtime's INFO lines still pass");
}
