//! Advices over real HTTP on both backends (`docs/authorization-rules.md#advices`): a 0120 posts what
//! the network approved in stand-in whatever the rules find (beyond the limit, on a blocked account or
//! card), except where it cannot be posted (no account, another currency); a 0420 releases what its
//! original still has, and is acknowledged releasing nothing when there is nothing to release. What
//! each leaves in the ledger, its events, its replays and its reading back.

use cofre_tests::{
    Backend, Reply, Stack, assert_decision, authorization_body, authorization_world as world, rule_result as result,
    with_fields as merge,
};
use serde_json::{Value, json};

const TENANT: &str = "tenant-a";

/// A 0120 for `account_id` and `amount`, with `extra` fields (a `null` removes one).
fn advice(account_id: i64, amount: &str, extra: Value) -> Value {
    let mut body = authorization_body(account_id, amount);
    body["mti"] = json!("0120");
    merge(body, extra)
}

/// A 0420 naming its original by `original_tracking_id`, with `extra` fields.
fn reversal(original_tracking: &str, extra: Value) -> Value {
    merge(
        json!({ "mti": "0420", "currency": "BRL", "network": "VISA", "original_tracking_id": original_tracking }),
        extra,
    )
}

/// (status, reason, additional_data) of `rule`.
fn judged<'a>(reply: &'a Reply, rule: &str) -> (&'a str, &'a str, &'a Value) {
    let r = result(reply, rule);
    (r["status"].as_str().unwrap(), r["reason"].as_str().unwrap(), &r["additional_data"])
}

/// The answer's `amount`, as its text has it (exact decimal).
fn amount(reply: &Reply) -> &str {
    reply.text.split("\"amount\":").nth(1).and_then(|rest| rest.split(',').next()).unwrap()
}

async fn available(stack: &Stack, id: i64) -> i64 {
    stack.account(TENANT, id).await.available
}

/// The two events of the decision recorded under `tracking`: (platform's data, payment methods' data).
async fn events_of(stack: &Stack, tracking: &str) -> (Value, Value) {
    let events: Vec<Value> = stack.events().await.into_iter().filter(|e| e["cid"] == tracking).collect();
    assert_eq!(events.len(), 2, "{tracking}: {events:?}");
    let data = |domain: &str| events.iter().find(|e| e["domain"] == domain).unwrap()["data"].clone();
    (data("platform-authorization"), data("payment-methods"))
}

#[tokio::test]
async fn an_authorization_advice_posts_beyond_the_limit_and_on_blocked_accounts_and_cards() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;

        // 1,500.00 on 1,000.00: held all the same, the overdraft stated.
        let body = advice(1001, "1500.00", json!({ "tracking_id": "adv-1" }));
        let posted = server.authorize(TENANT, None, &body).await;
        assert_decision(&posted, "APPROVED", "00", None);
        assert_eq!(
            (&posted.body["mti"], &posted.body["clearing_type"], &posted.body["overrides_applied"]),
            (&json!("0120"), &json!("OFFLINE"), &json!([])),
            "{backend:?}"
        );
        assert_eq!(amount(&posted), "1500.00");
        assert!(posted.body["authorization_code"].as_str().is_some_and(|c| c.len() == 6));
        assert_eq!(
            judged(&posted, "LEDGER"),
            (
                "REJECTED",
                "INSUFFICIENT_FUNDS",
                &json!({ "available": "1000.00", "requested": "1500.00", "forced": true, "overdraft": "500.00" })
            )
        );
        assert_eq!(judged(&posted, "ACCOUNT_STATUS").1, "ACCOUNT_NORMAL");
        let account = stack.account(TENANT, 1001).await;
        assert_eq!((account.available, account.held), (-50_000, 150_000), "{backend:?}: the ledger goes negative");
        let (platform, payment) = events_of(&stack, "adv-1").await;
        assert_eq!(
            (&platform["category"], &platform["operation"], &platform["contract_amount"], &platform["response_code"]),
            (&json!("AUTHORIZATION"), &json!("CASH_OUT"), &json!(1500.0), &json!("00"))
        );
        assert_eq!((&payment["mti"], &payment["category"]), (&json!("0120"), &json!("AUTHORIZATION")));

        // Idempotent on tracking_id: the recorded answer, nothing posted again, whatever the body.
        let events = stack.events().await.len();
        for again in [body.clone(), merge(body.clone(), json!({ "amount": 1 }))] {
            let replay = server.authorize(TENANT, None, &again).await;
            assert_eq!(replay.text, posted.text, "{backend:?}");
            assert_eq!(replay.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
        }
        assert_eq!(available(&stack, 1001).await, -50_000, "{backend:?}: posted once");
        assert_eq!(stack.events().await.len(), events, "no second event pair");

        // Read back as any authorization: what it holds, and the balance below zero.
        let read = server.call(TENANT, "GET", "/payment-methods/v1/authorizations/by-tracking-id/adv-1", "", &[]).await;
        assert_eq!((read.status, &read.body["decision"]), (200, &posted.body), "{backend:?}");
        assert!(read.text.contains(r#""held":1500.00,"confirmed":0.00,"cancelled":0.00"#), "{}", read.text);
        let balance = server.call(TENANT, "GET", "/payment-methods/v1/accounts/1001/balance", "", &[]).await;
        assert!(balance.text.contains(r#""available":-500.00,"held":1500.00"#), "{backend:?}: {}", balance.text);

        // A blocked or cancelled account, a blocked, cancelled or expired card, a mode or installments the
        // card does not allow: each recorded as found (forced), none denies.
        let card = |stored: &str, mode: &str| {
            advice(1003, "1", json!({ "account_id": null, "card": { "stored_id": stored }, "mode": mode }))
        };
        let card_on_1001 = |stored: &str, mode: &str| merge(card(stored, mode), json!({ "account_id": 1001 }));
        let cases = [
            (advice(1002, "1", json!({})), "ACCOUNT_STATUS", "ACCOUNT_BLOCKED", 1002),
            (advice(1004, "1", json!({})), "ACCOUNT_STATUS", "ACCOUNT_CANCELLED", 1004),
            (card("tok_502", "CREDIT"), "CARD_STATUS", "CARD_BLOCKED", 1001),
            (card("tok_503", "CREDIT"), "CARD_STATUS", "CARD_CANCELLED", 1001),
            (card("tok_504", "CREDIT"), "CARD_STATUS", "CARD_EXPIRED", 1001),
            (card("tok_505", "CREDIT"), "MODE", "MODE_NOT_ALLOWED", 1001),
            (
                advice(1003, "1", json!({ "card": { "stored_id": "tok_501" }, "mode": "CREDIT" })),
                "CARD_STATUS",
                "CARD_NOT_FOUND",
                1003,
            ),
            (
                merge(card_on_1001("tok_501", "DEBIT"), json!({ "number_of_installments": 3 })),
                "INSTALLMENTS",
                "INSTALLMENTS_NOT_ALLOWED",
                1001,
            ),
        ];
        for (body, rule, reason, account_id) in cases {
            let before = available(&stack, account_id).await;
            let reply = server.authorize(TENANT, None, &body).await;
            assert_decision(&reply, "APPROVED", "00", None);
            let (status, found, data) = judged(&reply, rule);
            assert_eq!((status, found, &data["forced"]), ("REJECTED", reason, &json!(true)), "{backend:?} {body}");
            assert_eq!(reply.body["account_id"], account_id);
            assert_eq!(available(&stack, account_id).await, before - 100, "{backend:?} {body}: posted");
        }

        // ONLINE: confirmed at once, as a 0200's; nothing held.
        let online = server.authorize(TENANT, None, &advice(1003, "5", json!({ "confirmation_mode": "ONLINE" }))).await;
        assert_decision(&online, "APPROVED", "00", None);
        assert_eq!(online.body["clearing_type"], "ONLINE");
        let account = stack.account(TENANT, 1003).await;
        assert_eq!(
            (account.available, account.held),
            (10_000 - 100 - 500, 100),
            "{backend:?}: 1.00 held, 5.00 confirmed"
        );

        // What makes posting impossible denies it, with the reason's codes, and moves nothing.
        for (i, (body, rule, reason, response, denial)) in [
            (advice(1005, "1", json!({})), "CURRENCY", "CURRENCY_MISMATCH", "12", "CMM"),
            (advice(9999, "1", json!({})), "ACCOUNT", "ACCOUNT_NOT_FOUND", "62", "IAD"),
            (advice(2001, "1", json!({})), "ACCOUNT", "ACCOUNT_NOT_FOUND", "62", "IAD"),
            (
                advice(1001, "1", json!({ "document_number": "22222222222" })),
                "ACCOUNT",
                "DOCUMENT_MISMATCH",
                "62",
                "IDN",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let tracking = format!("denied-{i}");
            let reply = server.authorize(TENANT, None, &merge(body.clone(), json!({ "tracking_id": tracking }))).await;
            assert_decision(&reply, "DENIED", response, Some(denial));
            let (status, found, data) = judged(&reply, rule);
            assert_eq!((status, found), ("REJECTED", reason), "{backend:?} {body}");
            assert!(data.get("forced").is_none(), "not forced: it denied");
            assert!(reply.body["authorization_code"].is_null());
            let (platform, payment) = events_of(&stack, &tracking).await;
            assert_eq!((&platform["category"], &payment["category"]), (&json!("DENIED"), &json!("DECLINED")));
        }
        assert_eq!(available(&stack, 1005).await, 10_000, "{backend:?}: another currency never touches the ledger");
        assert_eq!(available(&stack, 1001).await, -50_000 - 500, "{backend:?}: the five card advices");

        // No override, with the scope or without; an empty validation_rules overrides nothing.
        for rules in [json!({ "LEDGER": { "force": true } }), json!({ "ACCOUNT_STATUS": { "disable": true } })] {
            let refused = server
                .authorize(
                    TENANT,
                    Some("authorizations:override"),
                    &advice(1003, "1", json!({ "validation_rules": rules })),
                )
                .await;
            assert_eq!((refused.status, refused.code()), (400, "INVALID_FIELD"), "{backend:?}");
        }
        let empty = server.authorize(TENANT, None, &advice(1003, "1", json!({ "validation_rules": {} }))).await;
        assert_decision(&empty, "APPROVED", "00", None);

        // On an account already below zero, all of the amount is beyond what was available.
        let deeper = server.authorize(TENANT, None, &advice(1001, "10", json!({}))).await;
        assert_decision(&deeper, "APPROVED", "00", None);
        assert_eq!(
            judged(&deeper, "LEDGER").2,
            &json!({ "available": "-505.00", "requested": "10.00", "forced": true, "overdraft": "10.00" })
        );
        assert_eq!(available(&stack, 1001).await, -51_500, "{backend:?}");
    }
}

#[tokio::test]
async fn a_reversal_advice_releases_its_original_and_is_acknowledged_when_it_cannot() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let held = server.authorize(TENANT, None, &advice(1001, "1500.00", json!({ "tracking_id": "stand-in" }))).await;
        let held_id = held.body["authorization_id"].as_u64().unwrap();
        assert_eq!(available(&stack, 1001).await, -50_000);

        // Part of it, then more than remains: what remains is released, and what was asked is stated.
        let part = server
            .authorize(TENANT, None, &reversal("stand-in", json!({ "amount": 300, "tracking_id": "rev-1" })))
            .await;
        assert_decision(&part, "APPROVED", "00", None);
        assert_eq!((amount(&part), &part.body["original_authorization_id"]), ("300.00", &json!(held_id)));
        assert_eq!(judged(&part, "ORIGINAL_AUTHORIZATION").1, "ORIGINAL_FOUND");
        assert_eq!(available(&stack, 1001).await, -20_000, "{backend:?}");
        let (platform, payment) = events_of(&stack, "rev-1").await;
        assert_eq!(
            (&platform["category"], &platform["operation"], &platform["contract_amount"]),
            (&json!("PARTIAL_CANCELLATION"), &json!("CASH_IN"), &json!(300.0))
        );
        assert_eq!((&payment["mti"], &payment["category"]), (&json!("0420"), &json!("CANCELLATION")));

        let rest = server
            .authorize(TENANT, None, &reversal("stand-in", json!({ "amount": 5000, "tracking_id": "rev-2" })))
            .await;
        assert_decision(&rest, "APPROVED", "00", None);
        assert_eq!(amount(&rest), "1200.00", "{backend:?}: what remained");
        assert_eq!(
            judged(&rest, "ORIGINAL_AUTHORIZATION"),
            (
                "REJECTED",
                "AMOUNT_ABOVE_REMAINING",
                &json!({ "original_authorization_id": held_id, "remaining": "1200.00", "forced": true, "requested": "5000.00" })
            )
        );
        let account = stack.account(TENANT, 1001).await;
        assert_eq!((account.available, account.held), (100_000, 0), "{backend:?}: all of it back");
        assert_eq!(events_of(&stack, "rev-2").await.0["category"], "CANCELLATION");

        // Nothing left: acknowledged, 0.00 released, the original untouched.
        let nothing = server.authorize(TENANT, None, &reversal("stand-in", json!({ "tracking_id": "rev-3" }))).await;
        assert_decision(&nothing, "APPROVED", "00", None);
        assert_eq!((amount(&nothing), &nothing.body["original_authorization_id"]), ("0.00", &json!(held_id)));
        let (status, reason, _) = judged(&nothing, "ORIGINAL_AUTHORIZATION");
        assert_eq!((status, reason), ("REJECTED", "ORIGINAL_WRONG_STATE"));
        let (platform, _) = events_of(&stack, "rev-3").await;
        assert_eq!((&platform["category"], &platform["contract_amount"]), (&json!("CANCELLATION"), &json!(0.0)));
        assert_eq!(available(&stack, 1001).await, 100_000);
        // Its history: the two that released something, each as decided.
        let read = server.call(TENANT, "GET", &format!("/payment-methods/v1/authorizations/{held_id}"), "", &[]).await;
        let history: Vec<(&str, &str)> = read.body["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["mti"].as_str().unwrap(), h["tracking_id"].as_str().unwrap()))
            .collect();
        assert_eq!(history, [("0420", "rev-1"), ("0420", "rev-2")], "{backend:?}");
        assert!(read.text.contains(r#""held":0.00,"confirmed":0.00,"cancelled":1500.00"#), "{}", read.text);
        // A 0420 reads back as a decision that holds nothing.
        let read = server.call(TENANT, "GET", "/payment-methods/v1/authorizations/by-tracking-id/rev-3", "", &[]).await;
        assert_eq!((read.status, &read.body["decision"]), (200, &nothing.body));

        // An unknown original: acknowledged, nothing moved, what the network said kept.
        let unknown = server
            .authorize(TENANT, None, &reversal("never-seen", json!({ "amount": 7, "tracking_id": "rev-4" })))
            .await;
        assert_decision(&unknown, "APPROVED", "00", None);
        assert_eq!((amount(&unknown), &unknown.body["original_authorization_id"]), ("0.00", &Value::Null));
        assert_eq!(
            judged(&unknown, "ORIGINAL_AUTHORIZATION"),
            ("REJECTED", "ORIGINAL_NOT_FOUND", &json!({ "forced": true, "requested": "7.00" }))
        );
        assert_eq!(judged(&unknown, "ACCOUNT").1, "NOT_EVALUATED");
        // Replayed, not decided again.
        let events = stack.events().await.len();
        let replay = server
            .authorize(TENANT, None, &reversal("never-seen", json!({ "amount": 7, "tracking_id": "rev-4" })))
            .await;
        assert_eq!(
            (replay.text.as_str(), replay.headers.get("idempotent-replayed").map(String::as_str)),
            (unknown.text.as_str(), Some("true"))
        );
        assert_eq!(stack.events().await.len(), events);

        // A 0420 is final: no 0402 confirms it.
        let confirm = json!({ "mti": "0402", "currency": "BRL", "network": "VISA", "original_tracking_id": "rev-2" });
        assert_decision(&server.authorize(TENANT, None, &confirm).await, "DENIED", "12", Some("OWS"));

        // Each kind of hold takes each kind of settlement: a 0420 releases a 0100's; a 0202 confirms a
        // 0120's and a 0400 cancels it.
        let hold = merge(authorization_body(1001, "10.00"), json!({ "tracking_id": "plain-hold" }));
        assert_decision(&server.authorize(TENANT, None, &hold).await, "APPROVED", "00", None);
        let released = server.authorize(TENANT, None, &reversal("plain-hold", json!({}))).await;
        assert_decision(&released, "APPROVED", "00", None);
        assert_eq!(amount(&released), "10.00");
        server.authorize(TENANT, None, &advice(1001, "20", json!({ "tracking_id": "adv-hold" }))).await;
        let confirm = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_tracking_id": "adv-hold", "amount": 15 });
        assert_decision(&server.authorize(TENANT, None, &confirm).await, "APPROVED", "00", None);
        let cancel = json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "adv-hold" });
        let cancelled = server.authorize(TENANT, None, &cancel).await;
        assert_decision(&cancelled, "APPROVED", "00", None);
        assert_eq!(amount(&cancelled), "15.00");
        assert_eq!(available(&stack, 1001).await, 100_000, "{backend:?}");

        // Another currency than the original's: denied, nothing released; another account's: acknowledged, 0.00.
        server.authorize(TENANT, None, &advice(1001, "30", json!({ "tracking_id": "last-hold" }))).await;
        let usd = server.authorize(TENANT, None, &reversal("last-hold", json!({ "currency": "USD" }))).await;
        assert_decision(&usd, "DENIED", "12", Some("CMM"));
        let elsewhere = server.authorize(TENANT, None, &reversal("last-hold", json!({ "account_id": 1003 }))).await;
        assert_decision(&elsewhere, "APPROVED", "00", None);
        assert_eq!(
            (amount(&elsewhere), judged(&elsewhere, "ORIGINAL_AUTHORIZATION").1),
            ("0.00", "ORIGINAL_OTHER_ACCOUNT")
        );
        let account = stack.account(TENANT, 1001).await;
        assert_eq!((account.available, account.held), (97_000, 3_000), "{backend:?}: the 30.00 still held");
        assert_eq!(available(&stack, 1003).await, 10_000);
    }
}
