//! Random sequences of authorize / advise / confirm / cancel / reverse / replay on one account
//! (proptest, embedded store, through the use case; a hand-written one on both stores), confirmations,
//! cancellations and reversal advices naming their original by id or by tracking_id, and reversals of
//! originals nobody has: after every step the available amount equals the limit minus what approved
//! authorizations and authorization advices still hold or have confirmed, it is never negative unless
//! a forced LEDGER or an advice recorded the overdraft, every advice is approved, the account holds
//! what its authorizations hold, each lists the approved confirmations, cancellations and reversals
//! that acted on it, replays change nothing, and an authorization read by its tracking_id is the
//! authorization as it stands.

use cofre_domain::authorizations::{
    AuthorizationId, AuthorizationRecord, Authorizer, LedgerItem, LedgerKey, parse_authorization_request,
};
use cofre_domain::tenant::{Identity, TenantId};
use cofre_domain::tracking::TrackingId;
use cofre_tests::{Backend, Stack};
use proptest::prelude::*;
use serde_json::{Value, json};

const LIMIT_MINOR: i64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    /// A 0100/0200, or (`advice`) a 0120 held or, `online`, confirmed at once.
    Authorize {
        cents: i64,
        online: bool,
        forced: bool,
        advice: bool,
    },
    Confirm {
        pick: usize,
        partial: Option<u8>,
        has_error: bool,
        by_tracking: bool,
    },
    /// A 0400, or (`advice`) a 0420.
    Cancel {
        pick: usize,
        partial: Option<u8>,
        by_tracking: bool,
        advice: bool,
    },
    /// A 0420 naming an original nobody has.
    ReverseUnknown {
        cents: i64,
    },
    Replay {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1_i64..4_000, any::<bool>(), prop::bool::weighted(0.1), prop::bool::weighted(0.3)).prop_map(|(cents, online, forced, advice)| Op::Authorize { cents, online, forced: forced && !advice, advice }),
        2 => (any::<usize>(), prop::option::of(1_u8..100), prop::bool::weighted(0.2), any::<bool>()).prop_map(|(pick, partial, has_error, by_tracking)| Op::Confirm { pick, partial, has_error, by_tracking }),
        2 => (any::<usize>(), prop::option::of(1_u8..100), any::<bool>(), prop::bool::weighted(0.4)).prop_map(|(pick, partial, by_tracking, advice)| Op::Cancel { pick, partial, by_tracking, advice }),
        1 => (1_i64..4_000).prop_map(|cents| Op::ReverseUnknown { cents }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
    ]
}

fn ledger_reason(reply: &Value) -> &str {
    let results = reply["validation_results"].as_array().unwrap();
    results.iter().find(|r| r["name"] == "LEDGER").unwrap()["reason"].as_str().unwrap()
}

fn decimal(cents: i64) -> Value {
    serde_json::from_str(&format!("{}.{:02}", cents / 100, cents % 100)).unwrap()
}

struct Run {
    stack: Stack,
    authorizer: Authorizer,
    caller: Identity,
    sent: Vec<(Value, String)>,
    /// Approved authorizations: id, tracking_id, amount.
    authorizations: Vec<(u64, String, i64)>,
    /// The approved confirmations and cancellations of each, by its id, in order.
    settled: std::collections::HashMap<u64, Vec<u64>>,
    decisions: usize,
    overdraft_allowed: bool,
}

impl Run {
    async fn send(&mut self, body: Value) -> Value {
        let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
        let fallback = TrackingId::generate();
        let decision = self.authorizer.authorize(&self.caller, &fallback, request).await.unwrap();
        assert_eq!(decision.replayed, None, "every generated request has a fresh tracking_id");
        let raw = decision.response;
        self.sent.push((body, raw.get().to_owned()));
        self.decisions += 1;
        serde_json::from_str(raw.get()).unwrap()
    }

    async fn check(&self) {
        let tenant = TenantId::parse("tenant-a").unwrap();
        let account = self.stack.account("tenant-a", 1).await;
        let keys: Vec<LedgerKey> = self
            .authorizations
            .iter()
            .flat_map(|(id, tracking, _)| {
                [
                    LedgerKey::Authorization(AuthorizationId(*id)),
                    LedgerKey::AuthorizationOf(TrackingId::parse(tracking).unwrap()),
                ]
            })
            .collect();
        let (mut outstanding, mut held) = (0, 0);
        let items = self.stack.ledger.get(&tenant, &keys).await.unwrap();
        for pair in items.chunks(2) {
            let a: &AuthorizationRecord = match &pair[0] {
                Some(Ok(LedgerItem::Authorization(a))) => a,
                other => panic!("an approved authorization is missing: {other:?}"),
            };
            assert!(a.held >= 0 && a.confirmed >= 0, "{a:?}");
            outstanding += a.held + a.confirmed;
            held += a.held;
            let listed: Vec<u64> = a.settlements.iter().map(|s| s.id.0).collect();
            assert_eq!(&listed, self.settled.get(&a.id.0).unwrap_or(&vec![]), "its history is what acted on it");
            match &pair[1] {
                Some(Ok(LedgerItem::Authorization(by_tracking))) => assert_eq!(by_tracking, a, "read by tracking_id"),
                Some(Ok(LedgerItem::Recorded(recorded))) => assert_eq!(recorded.authorization_id, a.id),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(account.available, LIMIT_MINOR - outstanding, "available = limit - held - confirmed");
        assert_eq!(account.held, held, "the account holds what its authorizations hold");
        assert!(account.available >= 0 || self.overdraft_allowed, "negative only after a recorded overdraft");
        assert_eq!(self.stack.events().await.len(), 2 * self.decisions, "one event pair per decision, none per replay");
    }
}

fn run(ops: Vec<Op>, backend: Backend) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let stack = Stack::new(backend).await;
        stack
            .seed_accounts(&[json!({ "tenant_id": "tenant-a", "account_id": 1, "program_id": 1, "document_number": "1",
                "status": "NORMAL", "currency": "BRL", "limit": "100.00", "cards": [] })])
            .await;
        let authorizer = stack.authorizer();
        let caller = Identity { scopes: vec!["authorizations:override".into()], ..cofre_tests::caller("tenant-a") };
        let mut run = Run { stack, authorizer, caller, sent: Vec::new(), authorizations: Vec::new(), settled: Default::default(), decisions: 0, overdraft_allowed: false };
        for (step, op) in ops.into_iter().enumerate() {
            let tracking = format!("op-{step}");
            match op {
                Op::Authorize { cents, online, forced, advice } => {
                    let mti = match (advice, online) {
                        (true, _) => "0120",
                        (false, true) => "0200",
                        (false, false) => "0100",
                    };
                    let mut body = json!({ "mti": mti, "amount": decimal(cents), "currency": "BRL",
                        "network": "VISA", "account_id": 1, "entry_mode": "01", "processing_code": "003000", "tracking_id": tracking });
                    if forced {
                        body["validation_rules"] = json!({ "LEDGER": { "force": true } });
                    }
                    if advice && online {
                        body["confirmation_mode"] = json!("ONLINE");
                    }
                    let reply = run.send(body).await;
                    if reply["status"] == "APPROVED" {
                        run.authorizations.push((reply["authorization_id"].as_u64().unwrap(), tracking, cents));
                        run.overdraft_allowed |= forced || ledger_reason(&reply) == "INSUFFICIENT_FUNDS";
                    } else {
                        assert_eq!((reply["response_code"].as_str(), forced, advice), (Some("51"), false, false), "only funds deny here, and never an advice: {reply}");
                    }
                }
                Op::Confirm { pick, partial, by_tracking, .. } | Op::Cancel { pick, partial, by_tracking, .. } if !run.authorizations.is_empty() => {
                    let (id, original_tracking, cents) = run.authorizations[pick % run.authorizations.len()].clone();
                    let (mti, has_error) = match op {
                        Op::Confirm { has_error, .. } => ("0202", has_error),
                        Op::Cancel { advice: true, .. } => ("0420", false),
                        _ => ("0400", false),
                    };
                    let mut body = json!({ "mti": mti, "currency": "BRL", "network": "VISA", "tracking_id": tracking });
                    if by_tracking {
                        body["original_tracking_id"] = json!(original_tracking);
                    } else {
                        body["original_authorization_id"] = json!(id);
                    }
                    if let Some(p) = partial {
                        body["amount"] = decimal((cents * i64::from(p) / 100).max(1));
                    }
                    if has_error {
                        body["has_error"] = json!(true);
                    }
                    let reply = run.send(body).await;
                    if reply["status"] == "DENIED" {
                        assert_ne!(mti, "0420", "an advice is acknowledged: {reply}");
                        assert_eq!(reply["response_code"], "12", "settlements are denied only for their original's state: {reply}");
                    } else if mti != "0420" || reply["amount"].as_f64().unwrap() > 0.0 {
                        // A 0420 that released nothing did not act on it.
                        run.settled.entry(id).or_default().push(reply["authorization_id"].as_u64().unwrap());
                    }
                }
                Op::ReverseUnknown { cents } => {
                    let body = json!({ "mti": "0420", "currency": "BRL", "network": "VISA", "amount": decimal(cents),
                        "original_tracking_id": format!("nobody-{step}"), "tracking_id": tracking });
                    let reply = run.send(body).await;
                    assert_eq!((reply["status"].as_str(), reply["amount"].as_f64()), (Some("APPROVED"), Some(0.0)), "{reply}");
                }
                Op::Replay { pick } if !run.sent.is_empty() => {
                    let (body, response) = run.sent[pick % run.sent.len()].clone();
                    let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
                    let replayed = run.authorizer.authorize(&run.caller, &TrackingId::generate(), request).await.unwrap();
                    assert_eq!(replayed.response.get(), response, "a replay answers the recorded decision");
                    assert_eq!(replayed.replayed, Some(cofre_domain::authorizations::Replay::SameRequest));
                }
                _ => {}
            }
            run.check().await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 64, .. ProptestConfig::default() })]

    #[test]
    fn the_ledger_always_balances(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, Backend::Local);
    }
}

#[test]
fn the_property_holds_on_a_hand_written_sequence_on_both_stores() {
    for backend in Backend::ALL {
        run(
            vec![
                Op::Authorize { cents: 6_000, online: false, forced: false, advice: false },
                Op::Authorize { cents: 5_000, online: true, forced: false, advice: false },
                Op::Authorize { cents: 5_000, online: true, forced: true, advice: false },
                Op::Confirm { pick: 0, partial: Some(50), has_error: false, by_tracking: true },
                Op::Cancel { pick: 1, partial: Some(10), by_tracking: false, advice: false },
                Op::Cancel { pick: 1, partial: Some(10), by_tracking: true, advice: true },
                Op::Cancel { pick: 1, partial: None, by_tracking: true, advice: false },
                Op::Replay { pick: 2 },
                Op::Authorize { cents: 1_000, online: false, forced: false, advice: false },
                Op::Confirm { pick: 0, partial: None, has_error: true, by_tracking: false },
                Op::Confirm { pick: 2, partial: Some(30), has_error: false, by_tracking: false },
                Op::Cancel { pick: 2, partial: None, by_tracking: true, advice: false },
                // Advices: beyond what is available, held then ONLINE; reversed in part, beyond what
                // remains, again with nothing left, and of an original nobody has.
                Op::Authorize { cents: 9_000, online: false, forced: false, advice: true },
                Op::Authorize { cents: 3_000, online: true, forced: false, advice: true },
                Op::Replay { pick: 13 },
                Op::Cancel { pick: 3, partial: Some(25), by_tracking: false, advice: true },
                Op::Confirm { pick: 3, partial: Some(50), has_error: false, by_tracking: true },
                Op::Cancel { pick: 3, partial: Some(99), by_tracking: true, advice: true },
                Op::Cancel { pick: 3, partial: None, by_tracking: false, advice: true },
                Op::Cancel { pick: 4, partial: Some(50), by_tracking: true, advice: true },
                Op::ReverseUnknown { cents: 700 },
            ],
            backend,
        );
    }
}
