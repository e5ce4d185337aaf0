//! The local server as a real server, run as its users run it (the `cofre-local` binary): one
//! process per data directory, private files, clients that are slow or many or idle, and tokens
//! that are short-lived and never from the future.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use cofre_tests::{cofre_local_bin, hs256_token};

/// A `cofre-local serve` child process and what its banner said.
struct Served {
    child: Child,
    base_url: String,
    token: String,
    /// Every line the process printed so far (stdout and stderr).
    output: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn address(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

/// A `cofre-local` command on `data_dir` with `env` set, limited to `nofile` descriptors if given.
fn command(data_dir: &Path, args: &[&str], env: &[(&str, &str)], nofile: Option<u32>) -> Command {
    let bin = cofre_local_bin();
    let mut command = match nofile {
        Some(limit) => {
            let mut shell = Command::new("sh");
            shell.arg("-c").arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\"")).arg(bin).args(args);
            shell
        }
        None => {
            let mut direct = Command::new(bin);
            direct.args(args);
            direct
        }
    };
    command.env("COFRE_DATA_DIR", data_dir).env("RUST_LOG", "info").kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Starts `cofre-local serve` on an ephemeral port and reads its banner.
async fn serve(data_dir: &Path, env: &[(&str, &str)], nofile: Option<u32>) -> Served {
    let mut child = command(data_dir, &["serve", "--addr", "127.0.0.1:0"], env, nofile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = Arc::clone(&output);
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base_url, mut token) = (None, None);
    while token.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
        let Ok(Ok(Some(line))) = line else {
            panic!("the server stopped before its banner:\n{}", output.lock().unwrap().join("\n"));
        };
        output.lock().unwrap().push(line.clone());
        if let Some(rest) = line.strip_prefix("Cofre is listening on ") {
            base_url = Some(rest.split_whitespace().next().unwrap().to_owned());
        } else if line.starts_with("Bearer token for tenant") {
            token = lines.next_line().await.unwrap();
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    let sink = Arc::clone(&output);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    Served { child, base_url: base_url.unwrap(), token: token.unwrap(), output }
}

/// The JSON body of the answer to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// `GET /banking-auth/v1/credentials` with `token` on a fresh connection: the status.
async fn list(served: &Served, token: &str) -> u16 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let response = client
        .get(format!("{}/banking-auth/v1/credentials", served.base_url))
        .bearer_auth(token)
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    response.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Whether the server closed `stream` (end of file or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0_u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or 400 before closing is as good as a close.
            Ok(Ok(_)) => continue,
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The claims of a JWT (not verified: the server verifies).
fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Name, size and modification time of every file in `dir`.
fn listing(dir: &Path) -> Vec<(String, u64, SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            (entry.file_name().to_string_lossy().into_owned(), metadata.len(), metadata.modified().unwrap())
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_exits_with_a_clear_message_and_touches_nothing() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(data.path(), &[], None).await;
    assert_eq!(list(&served, &served.token).await, 200);
    // The first server's own checkpointer copies its start-up writes into the database file within
    // 200 ms: the listing to compare with is the one it settles to.
    let mut before = listing(data.path());
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = listing(data.path());
        if now == before {
            break;
        }
        before = now;
    }
    let args: &[&str] = &["serve", "--addr", "127.0.0.1:0"];
    let second = command(data.path(), args, &[], None).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let waited = tokio::time::timeout(Duration::from_secs(20), second.unwrap().wait_with_output()).await;
    let Ok(Ok(output)) = waited else { panic!("`cofre-local {}` is still running beside the first", args[0]) };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "`cofre-local {}` succeeded beside the first: {stderr}", args[0]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&data.path().display().to_string()) && stderr.contains("in use"),
        "the message names the directory: {stderr}"
    );
    assert_eq!(listing(data.path()), before, "`cofre-local {}` touched the data", args[0]);
    assert_eq!(list(&served, &served.token).await, 200, "the first server is unharmed");
    // Rotating the HMAC key beside a server is refused too: the server would go on hashing with the
    // keyring it read at start.
    let rotated = command(data.path(), &["hmac-key", "add"], &[], None).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&rotated.stderr);
    assert!(!rotated.status.success() && stderr.contains("in use"), "{stderr}");
    assert_eq!(listing(data.path()), before, "`cofre-local hmac-key add` touched the keyring");
    // Seeding writes beside the server (SQLite's locking keeps both safe), as the README's "Try it"
    // does, and reading events needs no lock either.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/seed.example.json");
    let seeded = command(data.path(), &["seed", example], &[], None).output().await.unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    assert!(
        String::from_utf8_lossy(&seeded.stdout).contains("inserted"),
        "{}",
        String::from_utf8_lossy(&seeded.stdout)
    );
    assert_eq!(list(&served, &served.token).await, 200, "the server is unharmed by the seeding");
    // And into a directory that does not exist yet, as the test command seeds before serving.
    let fresh = data.path().join("fresh");
    let seeded = command(&fresh, &["seed", example], &[], None).output().await.unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let events = command(data.path(), &["events"], &[], None).output().await.unwrap();
    assert!(events.status.success(), "{}", String::from_utf8_lossy(&events.stderr));
}

#[tokio::test]
async fn slow_headers_are_cut_off_while_a_normal_request_is_served() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(data.path(), &[("COFRE_HEADER_TIMEOUT", "2s")], None).await;
    // Five slowloris clients: a request line, then a header a byte at a time, forever.
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(served.address()).await.unwrap();
        stream.write_all(b"GET /banking-auth/v1/credentials HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    let dribble = tokio::spawn(async move {
        for _ in 0..15 {
            for stream in &mut slow {
                let _ = stream.write_all(b"X").await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        slow
    });
    let started = Instant::now();
    assert_eq!(list(&served, &served.token).await, 200);
    assert!(started.elapsed() < Duration::from_secs(3), "a normal request took {:?}", started.elapsed());
    let mut slow = dribble.await.unwrap();
    for stream in &mut slow {
        assert!(closed_within(stream, Duration::from_secs(1)).await, "a slow client was still connected after 4 s");
    }
    // An idle connection (nothing sent) is closed after the same timeout.
    let mut idle = TcpStream::connect(served.address()).await.unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle connection outlived the timeout");
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed too early: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_slow_body_and_a_slow_request_are_cut_off() {
    let data = tempfile::tempdir().unwrap();
    let env = [("COFRE_BODY_TIMEOUT", "1s"), ("COFRE_REQUEST_TIMEOUT", "1s")];
    let served = serve(data.path(), &env, None).await;
    // A body promised at 200 bytes, 10 sent: refused once the body timeout passes.
    let mut stream = TcpStream::connect(served.address()).await.unwrap();
    let head = format!(
        "POST /banking-auth/v1/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"key\":\"k",
        served.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = vec![0_u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer[..read.map(|r| r.unwrap_or(0)).unwrap_or(0)]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 4"), "a slow body was not refused within 5 s: {answer:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "refused before the timeout: {:?}", started.elapsed());
    // The sandbox's slow partner takes 2 s to time out (504); the request timeout (1 s) answers first.
    let response = reqwest::Client::new()
        .post(format!("{}/banking-auth/v1/credentials", served.base_url))
        .bearer_auth(&served.token)
        .json(&serde_json::json!({ "key": "key-slow", "provider": "BTG", "type": "PIX", "provider_data": { "client_id": "c" } }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!((status, body["code"].as_str()), (503, Some("REQUEST_TIMEOUT")), "{body}");
}

#[tokio::test]
async fn idle_connections_beyond_the_descriptor_limit_do_not_starve_a_normal_request() {
    let data = tempfile::tempdir().unwrap();
    // 256 descriptors for the server, 300 idle connections: more than it can hold open.
    let served = serve(data.path(), &[], Some(256)).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(served.address()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let status = list(&served, &served.token).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "a normal request failed beside 300 idle connections:\n{}", served.output());
    assert!(elapsed < Duration::from_secs(3), "a normal request took {elapsed:?}");
    drop(idle);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_private_and_loose_modes_are_fixed_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let set = |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let mut served = serve(&data, &[], None).await;
    assert_eq!(list(&served, &served.token).await, 200);
    assert_eq!(mode(&data), 0o700, "the data directory");
    let database = data.join("cofre.db");
    for name in ["cofre.db", "cofre.db-wal", "cofre.db-shm", "keyring.json"] {
        let path = data.join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    assert!(database.exists());
    served.child.kill().await.unwrap();

    // Loosened by hand: put right on the next start, with a warning naming each.
    set(&data, 0o755);
    set(&database, 0o644);
    let served = serve(&data, &[], None).await;
    assert_eq!(list(&served, &served.token).await, 200);
    assert_eq!((mode(&data), mode(&database)), (0o700, 0o600));
    let output = served.output();
    for path in [&data, &database] {
        assert!(
            output.lines().any(|l| l.contains("WARN") && l.contains(&path.display().to_string())),
            "no warning for {}: {output}",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_start_up_token_lives_an_hour_and_tokens_from_the_future_or_too_long_lived_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(data.path(), &[], None).await;
    let startup = claims(&served.token);
    let (iat, exp) = (startup["iat"].as_u64(), startup["exp"].as_u64().unwrap());
    assert_eq!(iat.map(|iat| exp - iat), Some(3600), "the start-up token's life: {startup}");
    assert!(served.output().contains("(1 h)"), "the banner says how long the token lives");

    let keyring: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.path().join("keyring.json")).unwrap()).unwrap();
    let key = base64::engine::general_purpose::STANDARD.decode(keyring["token_signing_key"].as_str().unwrap()).unwrap();
    let now = now();
    let token = |extra: serde_json::Value| {
        let mut claims =
            serde_json::json!({ "tenant_id": "demo-tenant", "sub": "local:demo-tenant", "iss": "cofre-local" });
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        hs256_token(&key, &claims)
    };
    let cases = [
        ("a fresh 10-minute token", serde_json::json!({ "iat": now, "exp": now + 600 }), 200),
        ("iat within the leeway", serde_json::json!({ "iat": now + 30, "exp": now + 600 }), 200),
        ("iat an hour from now", serde_json::json!({ "iat": now + 3600, "exp": now + 7200 }), 401),
        ("nbf an hour from now", serde_json::json!({ "iat": now, "nbf": now + 3600, "exp": now + 7200 }), 401),
        ("a 48-hour token", serde_json::json!({ "iat": now, "exp": now + 48 * 3600 }), 401),
        ("a year-long token without iat", serde_json::json!({ "exp": now + 365 * 24 * 3600 }), 401),
    ];
    for (case, extra, status) in cases {
        assert_eq!(list(&served, &token(extra)).await, status, "{case}");
    }

    // `token` mints no token the server would refuse; `--token-ttl` asks for a longer start-up token.
    let output =
        command(data.path(), &["token", "--tenant", "demo-tenant", "--hours", "48"], &[], None).output().await.unwrap();
    assert!(!output.status.success(), "a 48-hour token was minted");
    let other = tempfile::tempdir().unwrap();
    let longer = serve(other.path(), &[("COFRE_TOKEN_TTL", "8h")], None).await;
    let claims = claims(&longer.token);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap_or(0), 8 * 3600, "{claims}");
    assert_eq!(list(&longer, &longer.token).await, 200);
}

/// Holds expire on the server's own schedule, and a server killed in the middle of a sweep loses
/// nothing: the holds (placed an hour ago by a test clock, on an account whose holds last a second,
/// so due now in real time) are each released exactly once across the kill and the restart.
#[tokio::test]
async fn a_server_killed_mid_sweep_releases_the_rest_after_its_restart_each_once() {
    use cofre_domain::authorizations::{AccountSeeder, Authorizer, Ledger};
    const HOLDS: usize = 1500;
    let data = tempfile::tempdir().unwrap();
    {
        // Beside the server to come (this store lives on in the test server's task): no lock.
        let store = cofre_local::EmbeddedStore::open_beside_server(data.path()).unwrap();
        let keyring = Arc::new(cofre_local::LocalKeyring::open_or_create(data.path()).unwrap());
        let ledger: Arc<dyn Ledger> = Arc::new(store.clone());
        let account = serde_json::json!({ "tenant_id": "demo-tenant", "account_id": 9001, "program_id": 1,
            "document_number": "90010000001", "status": "NORMAL", "currency": "BRL", "limit": "1000.00",
            "hold_expiry_seconds": 1 });
        let seeder = AccountSeeder::new(Arc::clone(&ledger), Arc::new(store.clone()), Arc::clone(&keyring) as _);
        assert_eq!(seeder.seed(&[account]).await.unwrap().inserted, 1);
        let an_hour_ago = time::OffsetDateTime::now_utc() - Duration::from_secs(3600);
        let clock = Arc::new(cofre_tests::TestClock::at(an_hour_ago));
        let authorizer = Authorizer::new(ledger, keyring, clock, Arc::new(cofre_domain::ids::RandomIds::default()));
        let server = cofre_tests::TestServer::start_authorizations(authorizer).await;
        for n in 0..HOLDS {
            let mut body = cofre_tests::authorization_body(9001, "0.01");
            body["tracking_id"] = serde_json::json!(format!("kill-{n}"));
            let reply = server.authorize("demo-tenant", None, &body).await;
            assert_eq!(reply.body["status"], "APPROVED", "{}", reply.text);
        }
    }
    let expired_events = || async {
        let events = cofre_local::EmbeddedStore::open_read_only(data.path()).unwrap().events().await.unwrap();
        events.iter().filter(|e| e.contains(r#""event_type":"authorization-expired""#)).cloned().collect::<Vec<_>>()
    };
    let wait_for = |served: &Served, what: &str, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        let what = what.to_owned();
        let output = Arc::clone(&served.output);
        async move {
            while output.lock().unwrap().iter().filter(|l| l.contains(&what)).count() < count {
                assert!(Instant::now() < deadline, "no {what:?} in the server's output");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };

    let mut first = serve(data.path(), &[], None).await;
    wait_for(&first, "Holds expire: swept every 1 s", 1).await;
    wait_for(&first, "hold expired", 1).await;
    first.child.kill().await.unwrap();
    let before_restart = expired_events().await.len();
    assert!((1..HOLDS).contains(&before_restart), "killed mid-sweep: {before_restart} of {HOLDS} released");

    let second = serve(data.path(), &[], None).await;
    wait_for(&second, "swept due holds", 1).await;
    let events = expired_events().await;
    assert_eq!(events.len(), HOLDS, "every hold released once across the kill");
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e.split(r#""authorization_id":"#).nth(1).unwrap().split(',').next().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), HOLDS, "no hold released twice");
    let client = reqwest::Client::new();
    let balance = json_of(
        client.get(format!("{}/payment-methods/v1/accounts/9001/balance", second.base_url)).bearer_auth(&second.token),
    )
    .await;
    assert_eq!((&balance["available"], &balance["held"]), (&serde_json::json!(1000.0), &serde_json::json!(0.0)));
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_server_gracefully_and_the_use_it_answered_is_listed_after_a_restart() {
    use std::os::unix::process::ExitStatusExt;
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let served = serve(data.path(), &[], None).await;
    let stored = json_of(
        client.post(format!("{}/banking-auth/v1/credentials", served.base_url)).bearer_auth(&served.token).json(
            &serde_json::json!({
                "key": "Tc84Hi3CRyAHFBNIvbc8CuSuvHuGibjf", "provider": "BTG", "type": "PIX",
                "provider_data": {"client_id": "Jk10014812"}
            }),
        ),
    )
    .await;
    let proxy = stored["proxy"].as_str().unwrap_or_else(|| panic!("{stored}")).to_owned();
    let transfer = client
        .post(format!("{}/banking-auth/v1/proxy/{proxy}/pix/v1/transfers", served.base_url))
        .bearer_auth(&served.token)
        .json(&serde_json::json!({"amount": "10.00", "key": "12345678901"}))
        .send()
        .await
        .unwrap();
    assert_eq!(transfer.status(), 201);

    let Served { mut child, token, .. } = served;
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "stopped by SIGTERM, not gracefully: {status:?} (signal {:?})", status.signal());

    let restarted = serve(data.path(), &[], None).await;
    let uses = json_of(
        client.get(format!("{}/banking-auth/v1/credentials/{proxy}/uses", restarted.base_url)).bearer_auth(&token),
    )
    .await;
    assert_eq!(uses["uses"][0]["outcome"], "ANSWERED", "{uses}");
    assert_eq!(uses["uses"][0]["partner_status"], 201, "{uses}");
}
