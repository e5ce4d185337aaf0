//! `cofre-local`'s webhooks (infra/local/src/webhooks.rs) against real HTTP receivers: each tenant's
//! events reach its webhook, signed the Standard Webhooks way, in commit order; a receiver that
//! answers 5xx or does not answer in time gets the event again, one that answered 2xx never does;
//! a receiver down for a while gets everything when it comes back; a restart resumes from the
//! cursor; no secret or PAN is in a payload. (Killing the server mid-delivery: infra/attacks/
//! webhook_kills.py, which also verifies the signatures with the `standardwebhooks` package.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cofre_domain::tenant::TenantId;
use cofre_local::EmbeddedStore;
use cofre_local::webhooks::{DeliveryOptions, Webhook, parse_webhooks};
use cofre_tests::{Stack, TestServer, authorization_body, authorization_world, with_fields};
use serde_json::json;

const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_dGVuYW50LWIncyB3ZWJob29rIHNpZ25pbmcga2V5IQ==";

/// Fast enough for a test: a receiver has 300 ms to answer, retries come 20 ms to 200 ms apart.
const FAST: DeliveryOptions = DeliveryOptions {
    timeout: Duration::from_millis(300),
    first_retry: Duration::from_millis(20),
    max_retry: Duration::from_millis(200),
    idle_poll: Duration::from_millis(10),
};

/// The tests of this module run one at a time: the log test captures with a subscriber of its own
/// thread, and a delivery callsite first reached on another test's thread (no subscriber there) can
/// keep a cached "not wanted" that hides its lines from the capture.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a receiver answers to one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Accept,
    Fail(u16),
    /// Answers 200, but only after the sender's timeout.
    Hang,
}

/// One request a receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answer: Answer,
}

/// A webhook receiver on loopback: answers the requests by `plan` (then accepts), records them all.
#[derive(Clone)]
struct Receiver {
    plan: Arc<Vec<Answer>>,
    count: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn new(plan: Vec<Answer>) -> Self {
        Self { plan: Arc::new(plan), count: Arc::default(), received: Arc::default() }
    }

    /// Serves on `listener` until the test ends.
    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    async fn start(plan: Vec<Answer>) -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let receiver = Self::new(plan);
        receiver.serve(listener);
        (receiver, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The ids of the requests it accepted, in the order it accepted them.
    fn accepted(&self) -> Vec<String> {
        self.received().into_iter().filter(|r| r.answer == Answer::Accept).map(|r| r.id).collect()
    }

    /// Waits until it has accepted `ids` (at most 30 s), and returns what it accepted.
    async fn wait_for(&self, ids: &[String]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let accepted = self.accepted();
            if ids.iter().all(|id| accepted.contains(id)) || Instant::now() > deadline {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let answer = receiver.plan.get(receiver.count.fetch_add(1, Ordering::SeqCst)).copied().unwrap_or(Answer::Accept);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    receiver.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answer,
    });
    match answer {
        Answer::Accept => StatusCode::OK,
        Answer::Fail(status) => StatusCode::from_u16(status).unwrap(),
        Answer::Hang => {
            tokio::time::sleep(FAST.timeout * 3).await;
            StatusCode::OK
        }
    }
}

/// The signature as Standard Webhooks defines it, computed here independently of the sender.
fn expected_signature(secret: &str, received: &Received) -> String {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let signed = format!("{}.{}.{}", received.id, received.timestamp, received.body);
    format!("v1,{}", STANDARD.encode(aws_lc_rs::hmac::sign(&key, signed.as_bytes()).as_ref()))
}

fn webhooks(entries: &[(&str, &str, &str)]) -> Vec<Webhook> {
    let entries: Vec<_> = entries
        .iter()
        .map(|(tenant, url, secret)| json!({"tenant_id": tenant, "url": url, "secret": secret}))
        .collect();
    parse_webhooks(&entries).unwrap()
}

fn embedded(stack: &Stack) -> EmbeddedStore {
    stack.embedded.clone().expect("a local stack")
}

/// `tenant`'s events as stored, oldest first: their ids.
async fn event_ids(stack: &Stack, tenant: &str) -> Vec<String> {
    let events = stack.events().await;
    events.iter().filter(|e| e["org_id"] == tenant).map(|e| e["event_id"].as_str().unwrap().to_owned()).collect()
}

/// Approves an authorization of 1.00 on `account`, by card PAN on 1001 (so a PAN is in the request).
async fn authorize(server: &TestServer, tenant: &str, account: i64, tracking_id: &str) {
    let mut body = with_fields(authorization_body(account, "1.00"), json!({ "tracking_id": tracking_id }));
    if account == 1001 {
        body =
            with_fields(body, json!({ "account_id": null, "card": { "pan": "4111111111111111" }, "mode": "CREDIT" }));
    }
    let reply = server.authorize(tenant, None, &body).await;
    assert_eq!((reply.status, reply.body["status"].as_str()), (200, Some("APPROVED")), "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenants_events_reach_its_webhook_signed_in_order_and_only_failed_attempts_are_retried() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (stack, server) = authorization_world(cofre_tests::Backend::Local).await;
    // Tenant A's receiver fails its first three requests: a 500, no answer in time, a 503.
    let (receiver_a, url_a) = Receiver::start(vec![Answer::Fail(500), Answer::Hang, Answer::Fail(503)]).await;
    let (receiver_b, url_b) = Receiver::start(Vec::new()).await;
    let hooks = webhooks(&[("tenant-a", &url_a, SECRET_A), ("tenant-b", &url_b, SECRET_B)]);
    let deliveries = cofre_local::webhooks::start(&embedded(&stack), hooks, FAST).unwrap();
    assert_eq!(deliveries.len(), 2);
    for n in 0..6 {
        authorize(&server, "tenant-a", [1001, 1003][n % 2], &format!("a-{n}")).await;
        if n % 3 == 0 {
            authorize(&server, "tenant-b", 2001, &format!("b-{n}")).await;
        }
    }
    let (ids_a, ids_b) = (event_ids(&stack, "tenant-a").await, event_ids(&stack, "tenant-b").await);
    assert_eq!((ids_a.len(), ids_b.len()), (12, 4), "two events per decision");

    // Every event of each tenant, accepted once each, in the order they were committed.
    assert_eq!(receiver_a.wait_for(&ids_a).await, ids_a);
    assert_eq!(receiver_b.wait_for(&ids_b).await, ids_b);
    // The first event was tried four times with the same id (stable across retries), then accepted;
    // no accepted event was sent again.
    let received_a = receiver_a.received();
    let first: Vec<_> = received_a.iter().take(4).map(|r| (r.id.as_str(), r.answer)).collect();
    let first_id = ids_a[0].as_str();
    assert_eq!(
        first,
        [
            (first_id, Answer::Fail(500)),
            (first_id, Answer::Hang),
            (first_id, Answer::Fail(503)),
            (first_id, Answer::Accept)
        ]
    );
    tokio::time::sleep(FAST.max_retry * 2).await;
    assert_eq!(receiver_a.received().len(), 12 + 3, "nothing is sent again after a 2xx");
    assert_eq!(receiver_b.received().len(), 4);

    let stored = stack.events().await;
    for (receiver, secret, other) in [(&receiver_a, SECRET_A, SECRET_B), (&receiver_b, SECRET_B, SECRET_A)] {
        for received in receiver.received() {
            // The signature verifies with the webhook's secret, not with another.
            assert_eq!(received.signature, expected_signature(secret, &received));
            assert_ne!(received.signature, expected_signature(other, &received));
            // The body is the event as stored (as `cofre-local events` prints it).
            let event: serde_json::Value = serde_json::from_str(&received.body).unwrap();
            assert!(stored.contains(&event), "{}", received.body);
            assert_eq!(event["event_id"].as_str(), Some(received.id.as_str()));
            // No secret, key or PAN in a payload.
            for secret in [SECRET_A, SECRET_B] {
                let key = secret.trim_start_matches("whsec_");
                assert!(!received.body.contains(key), "a webhook secret in a payload");
            }
            for pan in ["4111111111111111", "5555555555554444"] {
                assert!(!received.body.contains(pan), "a PAN in a payload: {}", received.body);
            }
        }
    }
    // A's events are all tenant A's, in order per account too.
    let accounts: Vec<_> = received_a
        .iter()
        .filter(|r| r.answer == Answer::Accept)
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["data"]["account_id"].as_i64())
        .collect();
    assert_eq!(accounts, [1001, 1003, 1001, 1003, 1001, 1003]);
    drop(deliveries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_when_it_comes_back_and_a_restart_resumes_from_the_cursor() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (stack, server) = authorization_world(cofre_tests::Backend::Local).await;
    let store = embedded(&stack);
    // A port nobody listens on yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{port}/hooks");
    let hooks = webhooks(&[("tenant-a", &url, SECRET_A)]);
    let deliveries = cofre_local::webhooks::start(&store, hooks.clone(), FAST).unwrap();
    for n in 0..4 {
        authorize(&server, "tenant-a", 1003, &format!("down-{n}")).await;
    }
    // Several attempts fail to connect (20, 40, 80, 160, 200 ms apart) before the receiver comes up.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let tenant = TenantId::parse("tenant-a").unwrap();
    assert_eq!(store.webhook_cursor(&tenant, &url).unwrap(), 0, "nothing delivered while it is down");
    let receiver = Receiver::new(Vec::new());
    receiver.serve(tokio::net::TcpListener::bind(port).await.unwrap());
    let ids = event_ids(&stack, "tenant-a").await;
    assert_eq!(receiver.wait_for(&ids).await, ids, "everything, once, in order");

    // Stopped once its cursor has caught up, events go on being committed; started again, it sends
    // only those.
    let caught_up = Instant::now() + Duration::from_secs(10);
    let last = store.tenant_events_after(&tenant, 0, 100).unwrap().0.last().unwrap().seq;
    while store.webhook_cursor(&tenant, &url).unwrap() < last && Instant::now() < caught_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.webhook_cursor(&tenant, &url).unwrap(), last);
    drop(deliveries);
    for n in 0..2 {
        authorize(&server, "tenant-a", 1001, &format!("after-{n}")).await;
    }
    let _again = cofre_local::webhooks::start(&store, hooks, FAST).unwrap();
    let all = event_ids(&stack, "tenant-a").await;
    assert_eq!(all.len(), ids.len() + 4);
    assert_eq!(receiver.wait_for(&all).await, all, "the new events only, after the old ones");
}

/// No webhook secret, URL query (it may carry a token) or event body reaches a log line,
/// at TRACE for every crate (reqwest and hyper included), through a failed attempt and its retry.
#[tokio::test(flavor = "current_thread")]
async fn deliveries_log_no_secret_no_url_query_and_no_event() {
    let capture = cofre_tests::LogCapture::default();
    let _one = ONE_AT_A_TIME.lock().await;
    // One thread: the deliveries, the client and the receiver all log through this subscriber.
    let _capturing = capture.scoped("trace");

    let (stack, server) = authorization_world(cofre_tests::Backend::Local).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks?token=CAPABILITY-Zq7pL2", listener.local_addr().unwrap());
    let receiver = Receiver::new(vec![Answer::Fail(500)]);
    receiver.serve(listener);
    let _deliveries =
        cofre_local::webhooks::start(&embedded(&stack), webhooks(&[("tenant-a", &url, SECRET_A)]), FAST).unwrap();
    authorize(&server, "tenant-a", 1001, "logged-1").await;
    let ids = event_ids(&stack, "tenant-a").await;
    assert_eq!(receiver.wait_for(&ids).await, ids);

    let logs = capture.text();
    assert!(
        logs.contains("webhook answered 500; retrying"),
        "the failed attempt is logged: {}",
        logs.lines().filter(|l| l.contains("webhook")).collect::<Vec<_>>().join("\n")
    );
    let key = SECRET_A.trim_start_matches("whsec_");
    let leaked: Vec<&str> = ["CAPABILITY-Zq7pL2", SECRET_A, key, "4111111111111111", "\"data\":"]
        .into_iter()
        .filter(|w| logs.contains(w))
        .collect();
    assert!(leaked.is_empty(), "in the logs: {leaked:?}");
}
