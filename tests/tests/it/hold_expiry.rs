//! Holds expire (`docs/hold-expiry.md`), on both backends, with a test clock (never a sleep): an
//! unconfirmed 0100 releases what it still holds once, with an event carrying its metadata, reads
//! back EXPIRED, and a later 0202 or 0400 of it is denied ORIGINAL_EXPIRED; a confirmation racing the
//! expiry settles exactly once in either order; a sweep cut short loses nothing; round trips per hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cofre_domain::authorizations::{
    Account, AccountSettings, Commit, CommitError, DueHold, HoldExpirer, HoldRelease, Ledger, LedgerItem, LedgerKey,
    SweepReport,
};
use cofre_domain::store::StoreError;
use cofre_domain::tenant::TenantId;
use cofre_tests::{Backend, Reply, Stack, TestClock, TestServer, rule_result};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Notify;

const TENANT: &str = "tenant-h";
/// An account whose holds last an hour.
const HOURLY: i64 = 7001;
/// An account with the default (7 days).
const WEEKLY: i64 = 7002;
/// Another hourly account.
const HOURLY_TOO: i64 = 7003;
const HOUR: Duration = Duration::from_secs(3600);

fn accounts() -> Vec<Value> {
    vec![
        json!({ "tenant_id": TENANT, "account_id": HOURLY, "program_id": 1, "document_number": "70010000001",
            "status": "NORMAL", "currency": "BRL", "limit": "100000.00", "hold_expiry_seconds": 3600 }),
        json!({ "tenant_id": TENANT, "account_id": WEEKLY, "program_id": 1, "document_number": "70020000001",
            "status": "NORMAL", "currency": "BRL", "limit": "1000.00" }),
        json!({ "tenant_id": TENANT, "account_id": HOURLY_TOO, "program_id": 1, "document_number": "70030000001",
            "status": "NORMAL", "currency": "BRL", "limit": "100000.00", "hold_expiry_seconds": 3600 }),
    ]
}

/// A stack seeded with [`accounts`], an authorization server and a sweep over `ledger` (the stack's,
/// or one wrapping it), both on `clock`.
async fn world_over(stack: &Stack, ledger: Arc<dyn Ledger>, clock: &TestClock) -> (TestServer, HoldExpirer) {
    let authorizer = cofre_domain::authorizations::Authorizer::new(
        Arc::clone(&ledger),
        Arc::clone(&stack.hmac),
        Arc::new(clock.clone()),
        Arc::new(cofre_domain::ids::RandomIds::default()),
    );
    let server = TestServer::start_authorizations(authorizer).await;
    (server, HoldExpirer::new(ledger, Arc::new(clock.clone())))
}

/// A seeded stack, its clock, and the server and sweeper over its own ledger.
async fn seeded_world(backend: Backend) -> (Stack, TestClock, TestServer, HoldExpirer) {
    let stack = seeded(backend).await;
    let clock = TestClock::default();
    let (server, sweep) = world_over(&stack, Arc::clone(&stack.ledger), &clock).await;
    (stack, clock, server, sweep)
}

async fn seeded(backend: Backend) -> Stack {
    let stack = Stack::new(backend).await;
    assert_eq!(stack.seed_accounts(&accounts()).await, (3, 0));
    stack
}

fn hold(account: i64, amount: &str, tracking: &str) -> Value {
    let mut body: Value = serde_json::from_str(&format!(
        r#"{{"mti":"0100","amount":{amount},"currency":"BRL","network":"VISA","account_id":{account},"entry_mode":"01","processing_code":"003000"}}"#
    ))
    .unwrap();
    body["tracking_id"] = json!(tracking);
    body["metadata"] = json!({ "order": tracking, "note": "kept for the events" });
    body
}

fn settlement(mti: &str, original: &str, tracking: &str) -> Value {
    json!({ "mti": mti, "currency": "BRL", "network": "VISA", "original_tracking_id": original, "tracking_id": tracking })
}

async fn decide(server: &TestServer, body: &Value) -> Reply {
    let reply = server.authorize(TENANT, None, body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

async fn read_back(server: &TestServer, tracking: &str) -> Reply {
    server.call(TENANT, "GET", &format!("/payment-methods/v1/authorizations/by-tracking-id/{tracking}"), "", &[]).await
}

async fn balance(stack: &Stack, account: i64) -> (i64, i64) {
    let a = stack.account(TENANT, account).await;
    (a.available, a.held)
}

fn expiry_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event_type"] == "authorization-expired").collect()
}

#[tokio::test]
async fn an_unconfirmed_hold_expires_once_with_its_event_and_then_refuses_settlement() {
    for backend in Backend::ALL {
        let (stack, clock, server, sweep) = seeded_world(backend).await;
        let approved = decide(&server, &hold(HOURLY, "100.00", "h-1")).await;
        assert_eq!(approved.body["status"], "APPROVED");
        // Partly cancelled: only what it still holds is released.
        let partial = decide(
            &server,
            &json!({ "mti": "0400", "currency": "BRL", "network": "VISA",
            "original_tracking_id": "h-1", "tracking_id": "h-1-part", "amount": 30 }),
        )
        .await;
        assert_eq!(partial.body["status"], "APPROVED", "{}", partial.text);
        decide(&server, &hold(WEEKLY, "10.00", "w-1")).await;
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 7_000, 7_000));

        // Not due a second early; due an hour after; only the hourly account's.
        clock.advance(HOUR - Duration::from_secs(1));
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap(), SweepReport::default(), "{backend:?}");
        clock.advance(Duration::from_secs(2));
        let swept = sweep.sweep(usize::MAX).await.unwrap();
        assert_eq!((swept.due, swept.expired), (1, 1), "{backend:?}: {swept:?}");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000, 0), "{backend:?}: the 70.00 left went back");
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap(), SweepReport::default(), "{backend:?}: exactly once");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000, 0));

        let events = stack.events().await;
        let expired = expiry_events(&events);
        assert_eq!(expired.len(), 1, "{backend:?}: one event");
        let data = &expired[0]["data"];
        assert_eq!(
            (&expired[0]["domain"], &expired[0]["cid"], &expired[0]["org_id"]),
            (&json!("payment-methods"), &json!("h-1"), &json!(TENANT))
        );
        assert_eq!(data["metadata"], json!({ "order": "h-1", "note": "kept for the events" }), "{backend:?}");
        assert_eq!((&data["released_amount"], &data["amount"]), (&json!(70.0), &json!(100.0)));
        assert_eq!(data["authorization_id"], approved.body["authorization_id"]);

        let read = read_back(&server, "h-1").await;
        assert_eq!((read.status, &read.body["status"]), (200, &json!("EXPIRED")), "{backend:?}: {}", read.text);
        assert!(
            read.text.contains(r#""held":0.00,"confirmed":0.00,"cancelled":30.00,"expired":70.00,"expired_at":""#),
            "{backend:?}: {}",
            read.text
        );
        assert_eq!(read.body["decision"]["status"], "APPROVED", "the decision stays as it was answered");

        // A later confirmation or cancellation is denied with the documented reason, and moves nothing.
        for (mti, tracking) in [("0202", "h-1-confirm"), ("0400", "h-1-cancel")] {
            let late = decide(&server, &settlement(mti, "h-1", tracking)).await;
            cofre_tests::assert_decision(&late, "DENIED", "12", Some("OEX"));
            let rule = rule_result(&late, "ORIGINAL_AUTHORIZATION");
            assert_eq!((&rule["status"], &rule["reason"]), (&json!("REJECTED"), &json!("ORIGINAL_EXPIRED")));
            assert!(rule["additional_data"]["expired_at"].is_string(), "{}", late.text);
        }
        // A reversal advice is acknowledged, as for any original with nothing left: it releases nothing.
        let reversal = decide(&server, &settlement("0420", "h-1", "h-1-reversal")).await;
        cofre_tests::assert_decision(&reversal, "APPROVED", "00", None);
        assert!(reversal.text.contains(r#""amount":0.00"#), "{}", reversal.text);
        let rule = rule_result(&reversal, "ORIGINAL_AUTHORIZATION");
        assert_eq!((&rule["reason"], &rule["additional_data"]["forced"]), (&json!("ORIGINAL_EXPIRED"), &json!(true)));
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000, 0), "{backend:?}: nothing moved");
        assert_eq!(read_back(&server, "h-1").await.body["status"], "EXPIRED");
        assert_eq!(expiry_events(&stack.events().await).len(), 1);

        // The default: a week.
        clock.advance(Duration::from_secs(7 * 86_400 - 3_600 - 2));
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap().expired, 0, "{backend:?}: the weekly hold is not due yet");
        clock.advance(Duration::from_secs(2));
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap().expired, 1, "{backend:?}: due after 7 days");
        assert_eq!(balance(&stack, WEEKLY).await, (100_000, 0));
    }
}

#[tokio::test]
async fn an_invocation_whose_deadline_leaves_no_time_to_sweep_fails_and_touches_nothing() {
    for backend in Backend::ALL {
        let (stack, clock, server, sweep) = seeded_world(backend).await;
        decide(&server, &hold(HOURLY, "100.00", "late-1")).await;
        clock.advance(2 * HOUR);
        let event = json!({ "scheduled_time": "2026-12-02T16:00:00Z", "execution_id": "e-1" });
        let now_ms = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
        let before = stack.dynamodb_trips.count();

        // Lambda's default 15 s: inside the 30 s the sweep keeps free, so it could not start.
        let refused = cofre_aws::wiring::sweep_holds(&sweep, &event, Some(now_ms + 15_000)).await;
        let error = refused.expect_err("a sweep with no time must fail, not report an empty index");
        assert!(matches!(error, cofre_aws::wiring::SweepError::NoTime), "{backend:?}: {error}");
        assert!(error.to_string().contains("Timeout must be longer"), "{error}");
        assert_eq!(stack.dynamodb_trips.count(), before, "{backend:?}: nothing read");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 10_000, 10_000), "{backend:?}: still held");

        // A deadline already past is a runtime's placeholder (`cargo lambda watch` sends 600,000):
        // the same event sweeps as if it had none, and releases the hold.
        let report = cofre_aws::wiring::sweep_holds(&sweep, &event, Some(600_000)).await.unwrap();
        assert_eq!((&report["due"], &report["expired"]), (&json!(1), &json!(1)), "{backend:?}: {report}");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000, 0));
    }
}

#[tokio::test]
async fn confirmed_cancelled_and_denied_authorizations_are_never_swept() {
    for backend in Backend::ALL {
        let (stack, clock, server, sweep) = seeded_world(backend).await;
        decide(&server, &hold(HOURLY, "5.00", "c-1")).await;
        decide(&server, &hold(HOURLY, "6.00", "c-2")).await;
        let denied = decide(&server, &hold(HOURLY, "999999.00", "c-3")).await;
        assert_eq!(denied.body["status"], "DENIED");
        let online = decide(
            &server,
            &json!({ "mti": "0200", "amount": 7, "currency": "BRL", "network": "VISA",
            "account_id": HOURLY, "entry_mode": "01", "processing_code": "003000", "tracking_id": "c-4" }),
        )
        .await;
        assert_eq!(online.body["status"], "APPROVED");
        assert_eq!(decide(&server, &settlement("0202", "c-1", "c-1-ok")).await.body["status"], "APPROVED");
        assert_eq!(decide(&server, &settlement("0400", "c-2", "c-2-ok")).await.body["status"], "APPROVED");
        clock.advance(HOUR * 24 * 400);
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap(), SweepReport::default(), "{backend:?}");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 500 - 700, 0));
        assert!(expiry_events(&stack.events().await).is_empty());
        assert_eq!(read_back(&server, "c-1").await.body["status"], "APPROVED");
    }
}

#[tokio::test]
async fn hold_expiry_seconds_is_parsed_strictly() {
    let stack = Stack::new(Backend::Local).await;
    let mut account = accounts()[0].clone();
    for bad in [json!(0), json!(-1), json!(1.5), json!("3600"), json!(true), json!(31_622_401), json!(u64::MAX)] {
        account["hold_expiry_seconds"] = bad.clone();
        let error = stack.account_seeder().seed(std::slice::from_ref(&account)).await.unwrap_err().to_string();
        assert!(
            error.contains("`hold_expiry_seconds` must be a whole number of seconds from 1 to 31622400"),
            "{bad}: {error}"
        );
    }
    assert!(
        stack
            .ledger
            .get(
                &TenantId::parse(TENANT).unwrap(),
                &[LedgerKey::Account(cofre_domain::authorizations::AccountId::new(HOURLY).unwrap())]
            )
            .await
            .unwrap()[0]
            .is_none(),
        "nothing stored"
    );
    account["hold_expiry_seconds"] = json!(31_622_400);
    assert_eq!(stack.seed_accounts(&[account]).await, (1, 0));
    let settings = stack
        .ledger
        .get(
            &TenantId::parse(TENANT).unwrap(),
            &[LedgerKey::AccountSettings(cofre_domain::authorizations::AccountId::new(HOURLY).unwrap())],
        )
        .await
        .unwrap()
        .pop()
        .flatten();
    assert!(matches!(settings, Some(Ok(LedgerItem::AccountSettings(s))) if s.hold_expiry_seconds == Some(31_622_400)));
}

/// Which write of a race goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum First {
    Expiry,
    Confirmation,
}

/// What a test does to the stack's ledger's writes: by default, nothing.
#[async_trait]
trait Interception: Send + Sync {
    async fn commit(&self, inner: &dyn Ledger, commit: &Commit) -> Result<(), CommitError> {
        inner.commit(commit).await
    }

    async fn release_hold(&self, inner: &dyn Ledger, release: &HoldRelease) -> Result<(), CommitError> {
        inner.release_hold(release).await
    }
}

/// The stack's ledger, its writes going through an [`Interception`] first.
struct Intercepted {
    inner: Arc<dyn Ledger>,
    with: Arc<dyn Interception>,
}

impl Intercepted {
    fn over(stack: &Stack, with: Arc<dyn Interception>) -> Arc<dyn Ledger> {
        Arc::new(Self { inner: Arc::clone(&stack.ledger), with })
    }
}

#[async_trait]
impl Ledger for Intercepted {
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[LedgerKey],
    ) -> Result<Vec<Option<Result<LedgerItem, StoreError>>>, StoreError> {
        self.inner.get(tenant, keys).await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        self.with.commit(self.inner.as_ref(), commit).await
    }

    async fn insert_account(&self, account: &Account, settings: &AccountSettings) -> Result<bool, StoreError> {
        self.inner.insert_account(account, settings).await
    }

    async fn due_holds(
        &self,
        by: OffsetDateTime,
        after: Option<&DueHold>,
        limit: usize,
    ) -> Result<Vec<DueHold>, StoreError> {
        self.inner.due_holds(by, after, limit).await
    }

    async fn release_hold(&self, release: &HoldRelease) -> Result<(), CommitError> {
        self.with.release_hold(self.inner.as_ref(), release).await
    }
}

/// A ledger that makes the first confirmation and the first expiry after [`Gate::arm`] race: each has
/// read before either writes, and `first` writes first; the other then writes on what it read.
struct Gate {
    first: std::sync::Mutex<First>,
    commit_armed: AtomicBool,
    release_armed: AtomicBool,
    second_arrived: Notify,
    first_done: Notify,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            first: std::sync::Mutex::new(First::Expiry),
            commit_armed: AtomicBool::new(false),
            release_armed: AtomicBool::new(false),
            second_arrived: Notify::new(),
            first_done: Notify::new(),
        })
    }

    fn arm(&self, first: First) {
        *self.first.lock().unwrap() = first;
        self.commit_armed.store(true, Ordering::SeqCst);
        self.release_armed.store(true, Ordering::SeqCst);
    }

    async fn gated<T>(&self, me: First, write: impl std::future::Future<Output = T>) -> T {
        if *self.first.lock().unwrap() == me {
            self.second_arrived.notified().await;
            let done = write.await;
            self.first_done.notify_one();
            done
        } else {
            self.second_arrived.notify_one();
            self.first_done.notified().await;
            write.await
        }
    }
}

#[async_trait]
impl Interception for Gate {
    async fn commit(&self, inner: &dyn Ledger, commit: &Commit) -> Result<(), CommitError> {
        if self.commit_armed.swap(false, Ordering::SeqCst) {
            return self.gated(First::Confirmation, inner.commit(commit)).await;
        }
        inner.commit(commit).await
    }

    async fn release_hold(&self, inner: &dyn Ledger, release: &HoldRelease) -> Result<(), CommitError> {
        if self.release_armed.swap(false, Ordering::SeqCst) {
            return self.gated(First::Expiry, inner.release_hold(release)).await;
        }
        inner.release_hold(release).await
    }
}

/// 50 pairs in each order: the one that writes first wins, the other sees it; each hold is settled
/// exactly once, confirmed or expired, and the account and the events agree.
#[tokio::test]
async fn a_confirmation_racing_the_expiry_settles_exactly_once_in_either_order() {
    const PAIRS: usize = 50;
    for backend in Backend::ALL {
        let stack = seeded(backend).await;
        let clock = TestClock::default();
        let gate = Gate::new();
        let gated = Intercepted::over(&stack, Arc::clone(&gate) as Arc<dyn Interception>);
        let (server, sweep) = world_over(&stack, gated, &clock).await;
        let mut confirmed = 0;
        for first in [First::Expiry, First::Confirmation] {
            for pair in 0..PAIRS {
                let tracking = format!("race-{first:?}-{pair}");
                decide(&server, &hold(HOURLY, "1.00", &tracking)).await;
                clock.advance(HOUR + Duration::from_secs(1));
                gate.arm(first);
                let confirmation = settlement("0202", &tracking, &format!("{tracking}-confirm"));
                let (reply, swept) = tokio::join!(decide(&server, &confirmation), sweep.sweep(usize::MAX));
                let swept = swept.unwrap();
                let read = read_back(&server, &tracking).await;
                match first {
                    First::Expiry => {
                        assert_eq!((swept.expired, swept.settled_first), (1, 0), "{backend:?} {tracking}");
                        cofre_tests::assert_decision(&reply, "DENIED", "12", Some("OEX"));
                        assert_eq!(read.body["status"], "EXPIRED", "{}", read.text);
                    }
                    First::Confirmation => {
                        assert_eq!(
                            (swept.expired, swept.settled_first, swept.retried),
                            (0, 1, 1),
                            "{backend:?} {tracking}: the sweep lost, read again and let it be"
                        );
                        cofre_tests::assert_decision(&reply, "APPROVED", "00", None);
                        assert!(read.text.contains(r#""held":0.00,"confirmed":1.00,"cancelled":0.00,"expired":0.00"#));
                        assert_eq!(read.body["status"], "APPROVED");
                        confirmed += 1;
                    }
                }
            }
        }
        assert_eq!(confirmed, PAIRS);
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 100 * PAIRS as i64, 0), "{backend:?}");
        assert_eq!(expiry_events(&stack.events().await).len(), PAIRS, "{backend:?}: one event per expiry, no more");
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap(), SweepReport::default());
    }
}

/// Fails every release after the first `writes`: a sweep stopped halfway (a crash, a timeout, a lost
/// store); and always refuses the release of the hold `refused` names by tracking_id (one hold the
/// store keeps refusing).
struct Failing {
    writes: AtomicUsize,
    refused: Option<&'static str>,
}

#[async_trait]
impl Interception for Failing {
    async fn release_hold(&self, inner: &dyn Ledger, release: &HoldRelease) -> Result<(), CommitError> {
        if self.refused == Some(release.authorization.tracking_id.as_str()) {
            return Err(CommitError::Store(StoreError::Unavailable("ValidationException".into())));
        }
        let left = self.writes.load(Ordering::SeqCst);
        if left == 0 {
            return Err(CommitError::Store(StoreError::Unavailable("the process died".into())));
        }
        self.writes.store(left - 1, Ordering::SeqCst);
        inner.release_hold(release).await
    }
}

#[tokio::test]
async fn a_sweep_cut_short_loses_nothing_and_the_next_finishes_it() {
    for backend in Backend::ALL {
        let stack = seeded(backend).await;
        let clock = TestClock::default();
        let (server, _) = world_over(&stack, Arc::clone(&stack.ledger), &clock).await;
        for n in 0..30 {
            decide(&server, &hold(HOURLY, "2.00", &format!("cut-{n}"))).await;
        }
        clock.advance(HOUR * 2);
        let failing = Intercepted::over(&stack, Arc::new(Failing { writes: AtomicUsize::new(12), refused: None }));
        let cut = HoldExpirer::new(failing, Arc::new(clock.clone()));
        assert!(cut.sweep(usize::MAX).await.is_err(), "{backend:?}: the sweep stops at the failure");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 18 * 200, 18 * 200), "{backend:?}: 12 released");

        // Restarted: over the store reopened from its file (embedded), or a new client (DynamoDB).
        let reopened: Arc<dyn Ledger> = match backend {
            Backend::Local => Arc::new(cofre_local::EmbeddedStore::open(stack.data_dir.path()).unwrap()),
            Backend::Aws => Arc::clone(&stack.ledger),
        };
        let restarted = HoldExpirer::new(Arc::clone(&reopened), Arc::new(clock.clone()));
        let report = restarted.sweep(usize::MAX).await.unwrap();
        assert_eq!((report.due, report.expired), (18, 18), "{backend:?}: {report:?}");
        assert_eq!(restarted.sweep(usize::MAX).await.unwrap(), SweepReport::default());
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000, 0), "{backend:?}");
        assert_eq!(expiry_events(&stack.events().await).len(), 30, "{backend:?}: each once");

        // A sweep capped at `max_holds` leaves the rest due for the next one.
        for n in 0..5 {
            decide(&server, &hold(HOURLY, "1.00", &format!("cap-{n}"))).await;
        }
        clock.advance(HOUR * 2);
        assert_eq!(restarted.sweep(3).await.unwrap().expired, 3);
        assert_eq!(restarted.sweep(3).await.unwrap().expired, 2);
    }
}

#[tokio::test]
async fn a_hold_the_store_refuses_is_left_due_and_the_sweep_releases_the_others() {
    for backend in Backend::ALL {
        let stack = seeded(backend).await;
        let clock = TestClock::default();
        let (server, _) = world_over(&stack, Arc::clone(&stack.ledger), &clock).await;
        // The refused hold is the first due: every sweep meets it before the others.
        decide(&server, &hold(HOURLY, "3.00", "poison")).await;
        clock.advance(Duration::from_secs(1));
        for n in 0..4 {
            decide(&server, &hold(HOURLY, "1.00", &format!("after-poison-{n}"))).await;
        }
        clock.advance(HOUR * 2);
        let refusing = Intercepted::over(
            &stack,
            Arc::new(Failing { writes: AtomicUsize::new(usize::MAX), refused: Some("poison") }),
        );
        let sweep = HoldExpirer::new(refusing, Arc::new(clock.clone()));
        let report = sweep.sweep(usize::MAX).await.unwrap();
        assert_eq!((report.due, report.expired, report.left), (5, 4, 1), "{backend:?}: {report:?}");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 300, 300), "{backend:?}: only the refused one holds");
        assert_eq!(read_back(&server, "poison").await.body["status"], "APPROVED", "{backend:?}: still held");
        // Still due: a later sweep that the store lets through releases it.
        let report =
            HoldExpirer::new(Arc::clone(&stack.ledger), Arc::new(clock.clone())).sweep(usize::MAX).await.unwrap();
        assert_eq!((report.due, report.expired), (1, 1), "{backend:?}: {report:?}");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000, 0), "{backend:?}");
    }
}

#[tokio::test]
async fn a_sweep_past_its_deadline_starts_nothing_and_leaves_every_hold_due() {
    for backend in Backend::ALL {
        let (stack, clock, server, sweep) = seeded_world(backend).await;
        for n in 0..3 {
            decide(&server, &hold(HOURLY, "1.00", &format!("late-{n}"))).await;
        }
        clock.advance(HOUR * 2);
        let deadline = cofre_domain::clock::Clock::now(&clock);
        let report = sweep.sweep_until(usize::MAX, Some(deadline)).await.unwrap();
        assert_eq!(report, SweepReport::default(), "{backend:?}: nothing started");
        assert_eq!(balance(&stack, HOURLY).await, (10_000_000 - 300, 300), "{backend:?}");
        assert_eq!(sweep.sweep(usize::MAX).await.unwrap().expired, 3, "{backend:?}");
    }
}

/// The goal: one conditional transaction per hold, reads batched (one query of the index per shard
/// and page, one read per 100 of a tenant's holds).
#[tokio::test]
async fn a_sweep_costs_one_transaction_per_hold_and_batched_reads() {
    let stack = seeded(Backend::Aws).await;
    let clock = TestClock::default();
    let (server, sweep) = world_over(&stack, Arc::clone(&stack.ledger), &clock).await;
    // Two accounts: released at once, each account's one after another.
    for n in 0..120 {
        decide(&server, &hold(if n % 2 == 0 { HOURLY } else { HOURLY_TOO }, "1.00", &format!("rt-{n}"))).await;
    }
    clock.advance(HOUR * 2);
    let mark = stack.dynamodb_trips.count();
    assert_eq!(sweep.sweep(usize::MAX).await.unwrap().expired, 120);
    let operations = stack.dynamodb_trips.operations()[mark..].to_vec();
    assert_eq!((balance(&stack, HOURLY).await, balance(&stack, HOURLY_TOO).await), ((10_000_000, 0), (10_000_000, 0)));
    let count = |name: &str| operations.iter().filter(|o| o.as_str() == name).count();
    assert_eq!(
        (count("Query"), count("BatchGetItem"), count("TransactWriteItems"), operations.len()),
        (4, 2, 120, 126),
        "{operations:?}"
    );
}

/// 10,000 due holds on each store: time and round trips per hold (`docs/hold-expiry.md` has the
/// figures). Run with `cargo test -p cofre-tests --test it -- --ignored ten_thousand --nocapture`.
/// `COFRE_MOTO_HOLDS` sets how many on moto (default 10,000; ~7 minutes on `infra/moto_serial.py`,
/// whose rollback copies what a transaction names, not, as moto's own, every table it touches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: minutes on moto"]
async fn ten_thousand_due_holds_are_released() {
    const ACCOUNTS: i64 = 100;
    for backend in Backend::ALL {
        let holds = match backend {
            Backend::Local => 10_000,
            Backend::Aws => std::env::var("COFRE_MOTO_HOLDS").map_or(10_000, |n| n.parse().unwrap()),
        };
        let stack = seeded(backend).await;
        // 100 holds on each of 100 accounts.
        let bulk: Vec<Value> = (0..ACCOUNTS)
            .map(|n| {
                json!({ "tenant_id": TENANT, "account_id": 8000 + n, "program_id": 1,
                    "document_number": format!("8000{n:07}"), "status": "NORMAL", "currency": "BRL",
                    "limit": "1000.00", "hold_expiry_seconds": 3600 })
            })
            .collect();
        assert_eq!(stack.seed_accounts(&bulk).await, (ACCOUNTS as usize, 0));
        let clock = TestClock::default();
        let server = TestServer::start_authorizations(stack.authorizer_at(Arc::new(clock.clone()))).await;
        let made = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let server = server.clone();
            tasks.spawn(async move {
                for n in (worker..holds).step_by(8) {
                    decide(&server, &hold(8000 + (n as i64 % ACCOUNTS), "0.01", &format!("k-{n}"))).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let made = made.elapsed();
        clock.advance(HOUR * 2);
        let sweep = stack.hold_expirer(Arc::new(clock.clone()));
        let (mark, started) = (stack.dynamodb_trips.count(), std::time::Instant::now());
        let report = sweep.sweep(usize::MAX).await.unwrap();
        let took = started.elapsed();
        let operations = stack.dynamodb_trips.operations()[mark..].to_vec();
        assert_eq!(report.expired, holds, "{backend:?}");
        for n in 0..ACCOUNTS {
            assert_eq!(balance(&stack, 8000 + n).await, (100_000, 0), "{backend:?}");
        }
        let trips = match backend {
            Backend::Local => {
                // The embedded store's round trips: its index query and reads are in-process, its
                // writes are write jobs (one savepoint each).
                format!("{} queries + {} reads + {holds} write jobs", holds.div_ceil(1000), holds.div_ceil(100))
            }
            Backend::Aws => {
                let count = |name: &str| operations.iter().filter(|o| o.as_str() == name).count();
                assert_eq!(count("TransactWriteItems"), holds);
                format!(
                    "{} Query + {} BatchGetItem + {} TransactWriteItems = {:.3} per hold",
                    count("Query"),
                    count("BatchGetItem"),
                    count("TransactWriteItems"),
                    operations.len() as f64 / holds as f64
                )
            }
        };
        println!(
            "{backend:?}: {holds} holds made in {made:.1?}; swept in {took:.2?} ({:.3} ms per hold); {trips}",
            took.as_secs_f64() * 1000.0 / holds as f64
        );
    }
}
