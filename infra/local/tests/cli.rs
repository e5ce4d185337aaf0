//! The README's first command, as a user runs it: the `cofre-local` binary serves the API on the
//! built-in sandbox, prints a token, mints more with `token`, and keeps data across a restart.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_cofre-local");

struct Served {
    child: Child,
    base_url: String,
    token: String,
}

impl Served {
    /// `POST /payment-methods/v1/authorization` with `body`, as `token`'s holder.
    async fn authorize(&self, token: &str, body: &serde_json::Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/payment-methods/v1/authorization", self.base_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Starts `cofre-local serve` on an ephemeral port and reads its banner.
async fn serve(data_dir: &std::path::Path) -> Served {
    serve_with(data_dir, &[]).await
}

/// Starts `cofre-local serve` with `extra` arguments on an ephemeral port and reads its banner.
async fn serve_with(data_dir: &std::path::Path, extra: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .env("COFRE_DATA_DIR", data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base_url = None;
    let mut token = None;
    while token.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("Cofre is listening on ") {
            base_url = Some(rest.split_whitespace().next().unwrap().to_owned());
        } else if line.starts_with("Bearer token for tenant") {
            token = lines.next_line().await.unwrap();
        }
    }
    // Keep draining the server's log lines so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Served { child, base_url: base_url.unwrap(), token: token.unwrap() }
}

async fn post(served: &Served, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/banking-auth/v1/credentials", served.base_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn body(key: &str) -> serde_json::Value {
    serde_json::json!({ "key": key, "provider": "BTG", "type": "PIX", "provider_data": { "client_id": "Jk10014812" } })
}

#[tokio::test]
async fn serve_mint_store_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut served = serve(data.path()).await;

    let (status, created) = post(&served, &served.token, body("Tc84Hi3CRyAHFBNIvbc8CuSuvHuGibjf")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["message"], "Credential saved");

    // The sandbox behaves as the partners would.
    for (key, status, code) in
        [("key-invalid", 400, "EBAA0018"), ("key-unavailable", 502, "EBAA0002"), ("key-slow", 504, "EBAA0003")]
    {
        let (got, reply) = post(&served, &served.token, body(key)).await;
        assert_eq!((got, reply["code"].as_str()), (status, Some(code)), "{key}: {reply}");
    }
    for (provider, credential_type, data) in [
        ("CELCOIN", "BAAS", serde_json::json!({ "client_id": "c" })),
        ("JDPI", "PIX", serde_json::json!({ "client_id": "c" })),
        ("PAY2ALL", "PAY2ALL", serde_json::json!({ "username": "u" })),
    ] {
        let request =
            serde_json::json!({ "key": "k", "provider": provider, "type": credential_type, "provider_data": data });
        assert_eq!(post(&served, &served.token, request).await.0, 201, "{provider}");
    }

    // `token` mints for any tenant while the server runs; its last line is the token.
    let output = Command::new(BIN)
        .args(["token", "--tenant", "other-tenant"])
        .env("COFRE_DATA_DIR", data.path())
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let other = String::from_utf8(output.stdout).unwrap().lines().last().unwrap().to_owned();
    let (status, other_reply) = post(&served, &other, body("other-key")).await;
    assert_eq!(status, 201, "another tenant creates its own slot");
    assert_ne!(other_reply["proxy"], created["proxy"]);

    served.child.kill().await.unwrap();
    let restarted = serve(data.path()).await;
    let (status, replaced) = post(&restarted, &restarted.token, body("rotated-key")).await;
    assert_eq!(
        (status, &replaced["replaced"]),
        (201, &serde_json::json!(true)),
        "the slot survived the restart: {replaced}"
    );
    assert_eq!(replaced["proxy"], created["proxy"]);
}

#[tokio::test]
async fn token_refuses_a_malformed_tenant() {
    let data = tempfile::tempdir().unwrap();
    let output =
        Command::new(BIN).args(["token", "--tenant", "a#b"]).env("COFRE_DATA_DIR", data.path()).output().await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tenant_id"));
}

#[tokio::test]
async fn seed_the_example_then_set_and_rotate_through_the_sandbox() {
    let data = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../seed.example.json");
    let webhooks = format!("webhooks: 1 (delivered by `cofre-local serve --webhooks {example}`)");
    for expected in [
        format!("merchants: 1 inserted, 0 unchanged\naccounts: 2 inserted, 0 unchanged\n{webhooks}"),
        format!("merchants: 0 inserted, 1 unchanged\naccounts: 0 inserted, 2 unchanged\n{webhooks}"),
    ] {
        let output =
            Command::new(BIN).args(["seed", example]).env("COFRE_DATA_DIR", data.path()).output().await.unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8(output.stdout).unwrap().trim(), expected);
    }
    let served = serve(data.path()).await;
    let client = reqwest::Client::new();
    let url = |connection: &str| {
        format!("{}/v1/merchants/mid_test_2f428vcgdf94kv6y7rjwms59hf/connection/{connection}", served.base_url)
    };
    let patch = |connection: &str, body: serde_json::Value| {
        let request = client.patch(url(connection)).bearer_auth(&served.token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, record) = patch(
        "midCon_test_5q9s8hesxs85897c7a9gmea7ay",
        serde_json::json!({ "secret": "xFPtMdvOmWOb9xBHzS4Kde6ZMvR6GrIa" }),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["tin"], "****6789");
    assert_eq!(record["connections"][0]["status"], "Active");
    let rotate = serde_json::json!({ "secret": "sk_test_rotated", "existingCredentials": { "secret": "sk_test_seeded_old_secret" } });
    assert_eq!(patch("midCon_test_stripe0000000000000000001", rotate.clone()).await.0, 200);
    assert_eq!(patch("midCon_test_stripe0000000000000000001", rotate).await.0, 200, "a retry gets the stored result");
    let stale = serde_json::json!({ "secret": "sk_test_rotated_again", "existingCredentials": { "secret": "sk_test_seeded_old_secret" } });
    assert_eq!(patch("midCon_test_stripe0000000000000000001", stale).await.0, 409, "the old secret no longer matches");
    for (secret, status) in [("tk-invalid", 400), ("tk-unavailable", 502), ("tk-slow", 504)] {
        let (got, reply) =
            patch("midCon_test_anet00000000000000000001", serde_json::json!({ "key": "login", "secret": secret }))
                .await;
        assert_eq!(got, status, "{secret}: {reply}");
    }
}

#[tokio::test]
async fn accounts_seed_authorize_and_events_print_as_json_lines() {
    let data = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../seed.example.json");
    let output = Command::new(BIN).args(["seed", example]).env("COFRE_DATA_DIR", data.path()).output().await.unwrap();
    assert!(String::from_utf8(output.stdout).unwrap().contains("accounts: 2 inserted, 0 unchanged"));
    let served = serve(data.path()).await;
    let body = serde_json::json!({ "mti": "0100", "amount": 10.5, "currency": "BRL", "network": "VISA", "card": { "stored_id": "tok_card_501" },
        "mode": "CREDIT", "entry_mode": "051", "processing_code": "003000", "tracking_id": "cli-1" });
    let response = served.authorize(&served.token, &body).await;
    let text = response.text().await.unwrap();
    assert!(text.contains(r#""status":"APPROVED""#) && text.contains(r#""amount":10.50"#), "{text}");
    // A token with the override scope, minted by the CLI, may force a rule.
    let output = Command::new(BIN)
        .args(["token", "--tenant", "demo-tenant", "--scope", "authorizations:override"])
        .env("COFRE_DATA_DIR", data.path())
        .output()
        .await
        .unwrap();
    let scoped = String::from_utf8(output.stdout).unwrap().lines().last().unwrap().to_owned();
    let forced = serde_json::json!({ "mti": "0100", "amount": 5000, "currency": "BRL", "network": "VISA", "account_id": 1001,
        "entry_mode": "01", "processing_code": "003000", "validation_rules": { "LEDGER": { "force": true } } });
    for (token, status) in [(&served.token, 403), (&scoped, 200)] {
        let response = served.authorize(token, &forced).await;
        assert_eq!(response.status().as_u16(), status);
    }
    let output = Command::new(BIN).arg("events").env("COFRE_DATA_DIR", data.path()).output().await.unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "two decisions, two events each");
    assert_eq!(lines[0]["cid"], "cli-1");
    assert_eq!(lines[0]["domain"], "platform-authorization");
    assert_eq!(lines[1]["domain"], "payment-methods");

    // A reader that has gone (`events | head -0`): the output ends, the process does not panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(BIN)
        .arg("events")
        .env("COFRE_DATA_DIR", data.path())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", output.status);
}

#[tokio::test]
async fn a_bad_webhook_is_refused_by_seed_and_serve_without_quoting_its_secret_and_nothing_is_written() {
    let data = tempfile::tempdir().unwrap();
    let fixtures = data.path().join("fixtures.json");
    let raw = "not-a-whsec-secret-0123456789";
    let file = serde_json::json!({ "accounts": [], "webhooks": [{ "tenant_id": "demo-tenant", "url": "http://127.0.0.1:9/", "secret": raw }] });
    std::fs::write(&fixtures, file.to_string()).unwrap();
    let store = data.path().join("store");
    for args in [
        vec!["seed", fixtures.to_str().unwrap()],
        vec!["serve", "--addr", "127.0.0.1:0", "--webhooks", fixtures.to_str().unwrap()],
    ] {
        let output = Command::new(BIN).args(&args).env("COFRE_DATA_DIR", &store).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains("webhooks[0]: secret must be `whsec_`"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(raw) && !String::from_utf8_lossy(&output.stdout).contains(raw),
            "{args:?}: the secret quoted"
        );
        assert!(!store.exists(), "{args:?}: wrote to the data directory");
    }
    // Good webhooks, but on AWS the event bus delivers: refused before anything is opened.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../seed.example.json");
    let output = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--backend", "aws", "--webhooks", example])
        .env("COFRE_DATA_DIR", &store)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("webhooks: delivered from the local store only"), "{stderr}");
}

/// The README's webhook: the server started with `--webhooks` POSTs an authorization's two events,
/// signed, to the tenant's receiver; `cofre-local events` prints the same events.
#[tokio::test]
async fn serve_with_webhooks_posts_an_authorizations_events_signed_and_events_still_prints_them() {
    use base64::Engine as _;
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel::<(axum::http::HeaderMap, String)>();
    let receiver = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sender = sender.clone();
            async move {
                sender.send((headers, body)).unwrap();
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let data = tempfile::tempdir().unwrap();
    let mut fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../seed.example.json")).unwrap(),
    )
    .unwrap();
    fixtures["webhooks"][0]["url"] = url.into();
    let secret = fixtures["webhooks"][0]["secret"].as_str().unwrap().to_owned();
    let file = data.path().join("fixtures.json");
    std::fs::write(&file, fixtures.to_string()).unwrap();
    let store = data.path().join("store");
    let seeded =
        Command::new(BIN).args(["seed", file.to_str().unwrap()]).env("COFRE_DATA_DIR", &store).output().await.unwrap();
    assert!(
        String::from_utf8(seeded.stdout).unwrap().contains("webhooks: 1 (delivered by `cofre-local serve --webhooks")
    );
    let served = serve_with(&store, &["--webhooks", file.to_str().unwrap()]).await;
    let body = serde_json::json!({ "mti": "0100", "amount": 10.5, "currency": "BRL", "network": "VISA", "card": { "pan": "4111111111111111" },
        "mode": "CREDIT", "entry_mode": "051", "processing_code": "003000", "tracking_id": "order-42" });
    let response = served.authorize(&served.token, &body).await;
    assert_eq!(response.status(), 200);

    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let mut posted = Vec::new();
    for _ in 0..2 {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(30), received.recv()).await.unwrap().unwrap();
        let header = |name: &str| headers[name].to_str().unwrap().to_owned();
        let signed = format!("{}.{}.{body}", header("webhook-id"), header("webhook-timestamp"));
        let signature =
            base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::hmac::sign(&key, signed.as_bytes()));
        assert_eq!(header("webhook-signature"), format!("v1,{signature}"));
        assert!(!body.contains("4111111111111111") && !body.contains(&secret[6..]), "{body}");
        posted.push(body);
    }
    let listed = Command::new(BIN).arg("events").env("COFRE_DATA_DIR", &store).output().await.unwrap();
    let listed: Vec<String> = String::from_utf8(listed.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(listed, posted, "the events POSTed are the ones `cofre-local events` prints, in its order");
    drop(served);
}
