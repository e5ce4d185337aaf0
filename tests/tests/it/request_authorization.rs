//! `POST /payment-methods/v1/authorization` over real HTTP on both backends: every mti, rule,
//! reason, override and error path, and what each decision leaves in the ledger and the events.

use cofre_tests::{
    Backend, Reply, Stack, assert_decision, authorization_body, authorization_world as world, rule_result as result,
    with_fields as with,
};
use serde_json::{Value, json};

const TENANT: &str = "tenant-a";
const OVERRIDE: Option<&str> = Some("authorizations:override");

async fn available(stack: &Stack, id: i64) -> i64 {
    stack.account(TENANT, id).await.available
}

#[tokio::test]
async fn authorize_confirm_and_cancel_move_the_ledger_exactly() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let auth = server
            .authorize(TENANT, None, &with(authorization_body(1001, "10.00"), json!({ "tracking_id": "auth-1" })))
            .await;
        assert_decision(&auth, "APPROVED", "00", None);
        assert!(auth.text.contains(r#""amount":10.00"#), "amounts are exact decimals: {}", auth.text);
        assert_eq!(auth.body["clearing_type"], "OFFLINE");
        assert_eq!(auth.body["currency"], "BRL");
        let code = auth.body["authorization_code"].as_str().unwrap();
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
        let id = auth.body["authorization_id"].as_u64().unwrap();
        assert!(id > 0 && id < (1 << 53));
        assert_eq!(available(&stack, 1001).await, 99_000);

        // Partial confirmation: 6.00 of 10.00; the other 4.00 goes back.
        let confirm = json!({ "mti": "0202", "currency": "986", "network": "VISA", "original_authorization_id": id, "amount": 6 });
        let confirmed = server.authorize(TENANT, None, &confirm).await;
        assert_decision(&confirmed, "APPROVED", "00", None);
        assert_eq!(confirmed.body["original_authorization_id"], id);
        assert_eq!(result(&confirmed, "ORIGINAL_AUTHORIZATION")["reason"], "ORIGINAL_FOUND");
        assert_eq!(available(&stack, 1001).await, 99_400);
        // Confirmed once: again is the wrong state.
        let again = server.authorize(TENANT, None, &confirm).await;
        assert_decision(&again, "DENIED", "12", Some("OWS"));

        // Partial then full cancellation, by tracking id.
        let cancel = |amount: Option<&str>| {
            let mut body =
                json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "auth-1" });
            if let Some(a) = amount {
                body["amount"] = serde_json::from_str(a).unwrap();
            }
            body
        };
        let partial = server.authorize(TENANT, None, &cancel(Some("2.50"))).await;
        assert_decision(&partial, "APPROVED", "00", None);
        assert_eq!(available(&stack, 1001).await, 99_650);
        let full = server.authorize(TENANT, None, &cancel(None)).await;
        assert_decision(&full, "APPROVED", "00", None);
        assert!(full.text.contains(r#""amount":3.50"#), "the rest of the confirmed 6.00: {}", full.text);
        assert_eq!(available(&stack, 1001).await, 100_000);
        assert_decision(&server.authorize(TENANT, None, &cancel(None)).await, "DENIED", "12", Some("OWS"));

        // 0402 confirms the cancellation, once.
        let cancellation_id = full.body["authorization_id"].as_u64().unwrap();
        let confirm_cancel = json!({ "mti": "0402", "currency": "BRL", "network": "VISA", "original_authorization_id": cancellation_id });
        assert_decision(&server.authorize(TENANT, None, &confirm_cancel).await, "APPROVED", "00", None);
        assert_decision(&server.authorize(TENANT, None, &confirm_cancel).await, "DENIED", "12", Some("OWS"));
        assert_eq!(available(&stack, 1001).await, 100_000, "{backend:?}: confirming a cancellation moves no money");

        // 0200 is confirmed at once; there is nothing to confirm later, but it can be cancelled.
        let online =
            server.authorize(TENANT, None, &with(authorization_body(1001, "50"), json!({ "mti": "0200" }))).await;
        assert_decision(&online, "APPROVED", "00", None);
        assert_eq!(online.body["clearing_type"], "ONLINE");
        let online_id = online.body["authorization_id"].as_u64().unwrap();
        let confirm_online =
            json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": online_id });
        assert_decision(&server.authorize(TENANT, None, &confirm_online).await, "DENIED", "12", Some("OWS"));
        assert_eq!(available(&stack, 1001).await, 95_000);
        let cancel_online =
            json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_authorization_id": online_id });
        assert_decision(&server.authorize(TENANT, None, &cancel_online).await, "APPROVED", "00", None);
        assert_eq!(available(&stack, 1001).await, 100_000);

        // A 0200 held with confirmation_mode OFFLINE is confirmed like a 0100.
        let held_0200 = server
            .authorize(
                TENANT,
                None,
                &with(authorization_body(1001, "3"), json!({ "mti": "0200", "confirmation_mode": "OFFLINE" })),
            )
            .await;
        assert_eq!(held_0200.body["clearing_type"], "OFFLINE");
        let held_0200_id = held_0200.body["authorization_id"].as_u64().unwrap();
        let confirm_0200 = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": held_0200_id, "amount": 1 });
        assert_decision(&server.authorize(TENANT, None, &confirm_0200).await, "APPROVED", "00", None);
        assert_eq!(available(&stack, 1001).await, 99_900, "{backend:?}: 1.00 confirmed, 2.00 released");
        let cancel_0200 =
            json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_authorization_id": held_0200_id });
        assert_decision(&server.authorize(TENANT, None, &cancel_0200).await, "APPROVED", "00", None);
        assert_eq!(available(&stack, 1001).await, 100_000);

        // has_error on a confirmation cancels instead; confirmation_mode ONLINE on a 0100 clears at once.
        let held = server.authorize(TENANT, None, &authorization_body(1001, "20")).await;
        let held_id = held.body["authorization_id"].as_u64().unwrap();
        let errored = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": held_id, "has_error": true });
        assert_decision(&server.authorize(TENANT, None, &errored).await, "APPROVED", "00", None);
        assert_eq!(available(&stack, 1001).await, 100_000);
        let online_0100 = server
            .authorize(TENANT, None, &with(authorization_body(1001, "1"), json!({ "confirmation_mode": "ONLINE" })))
            .await;
        assert_eq!(online_0100.body["clearing_type"], "ONLINE");
        let id_0100 = online_0100.body["authorization_id"].as_u64().unwrap();
        let confirm_0100 =
            json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": id_0100 });
        assert_decision(&server.authorize(TENANT, None, &confirm_0100).await, "DENIED", "12", Some("OWS"));

        // Originals that do not exist, that are exceeded, or that are another account's.
        let missing = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": 42 });
        assert_decision(&server.authorize(TENANT, None, &missing).await, "DENIED", "12", Some("ONF"));
        let missing_tracking =
            json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "never-used" });
        assert_decision(&server.authorize(TENANT, None, &missing_tracking).await, "DENIED", "12", Some("ONF"));
        let held = server.authorize(TENANT, None, &authorization_body(1001, "5")).await;
        let held_id = held.body["authorization_id"].as_u64().unwrap();
        let above = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": held_id, "amount": 5.01 });
        let above = server.authorize(TENANT, None, &above).await;
        assert_decision(&above, "DENIED", "12", Some("OAR"));
        // The account is the original's, as it recorded it; what remains is in its currency.
        assert_eq!(result(&above, "ACCOUNT")["additional_data"], json!({ "account_id": 1001 }), "{backend:?}");
        assert_eq!(
            result(&above, "ORIGINAL_AUTHORIZATION")["additional_data"],
            json!({ "original_authorization_id": held_id, "remaining": "5.00" }),
            "{backend:?}"
        );
        let other = json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_authorization_id": held_id, "account_id": 1003 });
        assert_decision(&server.authorize(TENANT, None, &other).await, "DENIED", "12", Some("OOA"));
        let other_currency =
            json!({ "mti": "0400", "currency": "USD", "network": "VISA", "original_authorization_id": held_id });
        assert_decision(&server.authorize(TENANT, None, &other_currency).await, "DENIED", "12", Some("CMM"));
        // Another tenant cannot see it at all.
        let foreign =
            json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_authorization_id": held_id });
        assert_decision(&server.authorize("tenant-b", None, &foreign).await, "DENIED", "12", Some("ONF"));
        assert_eq!(
            available(&stack, 1001).await,
            99_400,
            "{backend:?}: the 5.00 hold and the 1.00 cleared online remain"
        );
    }
}

#[tokio::test]
async fn every_way_of_naming_an_account_finds_it_and_contradictions_are_denied() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let base = authorization_body(1001, "1");
        let by = |extra: Value| with(base.clone(), with(json!({ "account_id": null }), extra));
        let found = [
            by(json!({ "account_id": 1001 })),
            by(json!({ "document_number": "11111111111", "program_id": 1 })),
            by(json!({ "card": { "pan": "4111111111111111" }, "mode": "CREDIT" })),
            by(json!({ "card": { "stored_id": "tok_501" }, "mode": "DEBIT" })),
            by(json!({ "bank": { "account": "12345-6", "branch": "0001" } })),
            by(
                json!({ "account_id": 1001, "document_number": "11111111111", "card": { "stored_id": "tok_501" }, "mode": "CREDIT" }),
            ),
        ];
        for body in found {
            let reply = server.authorize(TENANT, None, &body).await;
            assert_decision(&reply, "APPROVED", "00", None);
            assert_eq!(reply.body["account_id"], 1001, "{body}");
        }
        assert_eq!(available(&stack, 1001).await, 99_400);
        let denied = [
            (by(json!({ "account_id": 9999 })), "62", "IAD", "ACCOUNT_NOT_FOUND"),
            (by(json!({ "card": { "pan": "4999999999999999" }, "mode": "CREDIT" })), "62", "IAD", "ACCOUNT_NOT_FOUND"),
            (by(json!({ "bank": { "account": "0", "branch": "0001" } })), "62", "IAD", "ACCOUNT_NOT_FOUND"),
            (by(json!({ "document_number": "11111111111" })), "62", "DND", "AMBIGUOUS_DOCUMENT"),
            (by(json!({ "account_id": 1001, "document_number": "22222222222" })), "62", "IDN", "DOCUMENT_MISMATCH"),
            (by(json!({ "account_id": 2001 })), "62", "IAD", "ACCOUNT_NOT_FOUND"),
        ];
        for (body, response, denial, reason) in denied {
            let reply = server.authorize(TENANT, None, &body).await;
            assert_decision(&reply, "DENIED", response, Some(denial));
            assert_eq!(result(&reply, "ACCOUNT")["reason"], reason, "{body}");
            assert_eq!(result(&reply, "LEDGER")["reason"], "NOT_EVALUATED");
        }
        // The program disambiguates a document with accounts in two programs.
        let reply =
            server.authorize(TENANT, None, &by(json!({ "document_number": "11111111111", "program_id": 2 }))).await;
        assert_eq!((reply.body["status"].as_str(), reply.body["account_id"].as_i64()), (Some("APPROVED"), Some(1003)));
        assert_eq!(available(&stack, 1001).await, 99_400, "{backend:?}: denials move nothing");
    }
}

#[tokio::test]
async fn each_rule_denies_with_its_codes() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let card = |stored: &str, mode: &str| {
            with(authorization_body(1001, "1"), json!({ "card": { "stored_id": stored }, "mode": mode }))
        };
        let cases = [
            (authorization_body(1002, "1"), "ACCOUNT_STATUS", "ACCOUNT_BLOCKED", "57", "ABL"),
            (authorization_body(1004, "1"), "ACCOUNT_STATUS", "ACCOUNT_CANCELLED", "62", "ACN"),
            (card("tok_502", "CREDIT"), "CARD_STATUS", "CARD_BLOCKED", "57", "CBL"),
            (card("tok_503", "CREDIT"), "CARD_STATUS", "CARD_CANCELLED", "14", "CCN"),
            (card("tok_504", "CREDIT"), "CARD_STATUS", "CARD_EXPIRED", "54", "CEX"),
            (
                with(authorization_body(1003, "1"), json!({ "card": { "stored_id": "tok_501" }, "mode": "CREDIT" })),
                "CARD_STATUS",
                "CARD_NOT_FOUND",
                "14",
                "CNF",
            ),
            (card("tok_505", "CREDIT"), "MODE", "MODE_NOT_ALLOWED", "57", "MNA"),
            (card("tok_506", "DEBIT"), "MODE", "MODE_NOT_ALLOWED", "57", "MNA"),
            (authorization_body(1005, "1"), "CURRENCY", "CURRENCY_MISMATCH", "12", "CMM"),
            (
                with(authorization_body(1001, "1"), json!({ "mode": "DEBIT", "number_of_installments": 3 })),
                "INSTALLMENTS",
                "INSTALLMENTS_NOT_ALLOWED",
                "12",
                "INA",
            ),
            (authorization_body(1001, "1000.01"), "LEDGER", "INSUFFICIENT_FUNDS", "51", "NSF"),
        ];
        for (body, rule, reason, response, denial) in cases {
            let reply = server.authorize(TENANT, None, &body).await;
            assert_decision(&reply, "DENIED", response, Some(denial));
            let r = result(&reply, rule);
            assert_eq!(
                (r["status"].as_str(), r["reason"].as_str()),
                (Some("REJECTED"), Some(reason)),
                "{backend:?} {body}"
            );
            assert!(reply.body["authorization_code"].is_null(), "denials carry no authorization code");
        }
        // Installments in CREDIT are fine, and the exact available amount is enough.
        let credit =
            with(authorization_body(1001, "1000.00"), json!({ "mode": "CREDIT", "number_of_installments": 10 }));
        assert_decision(&server.authorize(TENANT, None, &credit).await, "APPROVED", "00", None);
        assert_eq!(available(&stack, 1001).await, 0);
        let r = server.authorize(TENANT, None, &authorization_body(1001, "0.01")).await;
        assert_decision(&r, "DENIED", "51", Some("NSF"));
        assert_eq!(result(&r, "LEDGER")["additional_data"], json!({ "available": "0.00", "requested": "0.01" }));
    }
}

#[tokio::test]
async fn overrides_need_the_scope_and_are_recorded() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let forced =
            with(authorization_body(1001, "1500.00"), json!({ "validation_rules": { "LEDGER": { "force": true } } }));
        let refused = server.authorize(TENANT, None, &forced).await;
        assert_eq!((refused.status, refused.code()), (403, "FORBIDDEN"));
        assert_eq!(available(&stack, 1001).await, 100_000);

        let reply = server.authorize(TENANT, OVERRIDE, &forced).await;
        assert_decision(&reply, "APPROVED", "00", None);
        let balance = result(&reply, "LEDGER");
        assert_eq!(
            (balance["status"].as_str(), balance["reason"].as_str()),
            (Some("REJECTED"), Some("INSUFFICIENT_FUNDS"))
        );
        assert_eq!(balance["additional_data"]["forced"], true);
        assert_eq!(balance["additional_data"]["overdraft"], "500.00");
        assert_eq!(reply.body["overrides_applied"], json!(["LEDGER:force"]));
        assert_eq!(available(&stack, 1001).await, -50_000, "{backend:?}: a forced LEDGER may overdraw, and says so");
        // BALANCE, Cofre's first name for the rule, is still accepted; the answer says LEDGER.
        let aliased =
            with(authorization_body(1003, "1"), json!({ "validation_rules": { "BALANCE": { "force": true } } }));
        let reply = server.authorize(TENANT, OVERRIDE, &aliased).await;
        assert_decision(&reply, "APPROVED", "00", None);
        assert_eq!(reply.body["overrides_applied"], json!(["LEDGER:force"]));
        assert_eq!(result(&reply, "LEDGER")["status"], "APPROVED");

        let disabled = with(
            authorization_body(1002, "1"),
            json!({ "validation_rules": { "ACCOUNT_STATUS": { "disable": true } } }),
        );
        let reply = server.authorize(TENANT, OVERRIDE, &disabled).await;
        assert_decision(&reply, "APPROVED", "00", None);
        assert_eq!(result(&reply, "ACCOUNT_STATUS")["reason"], "DISABLED_BY_REQUEST");
        assert_eq!(reply.body["overrides_applied"], json!(["ACCOUNT_STATUS:disable"]));

        let remapped = with(
            authorization_body(1003, "100.01"),
            json!({ "validation_rules": { "LEDGER": { "denial_reasons": {
            "INSUFFICIENT_FUNDS": { "response_code": "05", "denial_code": "XYZ" } } } } }),
        );
        let reply = server.authorize(TENANT, OVERRIDE, &remapped).await;
        assert_decision(&reply, "DENIED", "05", Some("XYZ"));
        assert_eq!(reply.body["overrides_applied"], json!(["LEDGER:denial_reason:INSUFFICIENT_FUNDS"]));

        for (rules, code, message) in [
            (
                json!({ "BALANCES": { "disable": true } }),
                "UNKNOWN_VALIDATION_RULE",
                "validation_rules.BALANCES is not a rule",
            ),
            (
                json!({ "LEDGER": { "denial_reasons": { "CARD_EXPIRED": {} } } }),
                "UNKNOWN_DENIAL_REASON",
                "validation_rules.LEDGER.denial_reasons.CARD_EXPIRED is not a rejection reason of LEDGER",
            ),
            (
                json!({ "LEDGER": { "denial_reasons": { "SUFFICIENT_FUNDS": {} } } }),
                "UNKNOWN_DENIAL_REASON",
                "validation_rules.LEDGER.denial_reasons.SUFFICIENT_FUNDS is not a rejection reason of LEDGER",
            ),
            (
                json!({ "ACCOUNT": { "force": true } }),
                "INVALID_FIELD",
                "validation_rules.ACCOUNT cannot be disabled or forced: without it there is nothing to authorize against",
            ),
            (
                json!({ "LEDGER": { "force": true, "disable": true } }),
                "INVALID_FIELD",
                "validation_rules.LEDGER cannot both disable and force",
            ),
            (
                json!({ "BALANCE": { "force": true }, "LEDGER": { "force": true } }),
                "INVALID_FIELD",
                "validation_rules.BALANCE names the same rule as validation_rules.LEDGER: send one of them",
            ),
            (
                json!({ "LEDGER": { "force": "yes" } }),
                "INVALID_FIELD",
                "validation_rules.LEDGER.force must be a boolean",
            ),
            (json!({ "LEDGER": { "skip": true } }), "UNKNOWN_FIELD", "validation_rules.LEDGER.skip is not a field"),
            (
                json!({ "LEDGER": { "denial_reasons": { "INSUFFICIENT_FUNDS": { "response_code": "00" } } } }),
                "INVALID_FIELD",
                "validation_rules.LEDGER.denial_reasons.INSUFFICIENT_FUNDS.response_code must be a denial response code (05, 12, 14, 30, 51, 54, 55, 57, 59, 62, 63, 75, 92, 96)",
            ),
            (
                json!({ "LEDGER": { "denial_reasons": { "INSUFFICIENT_FUNDS": { "denial_code": "x1" } } } }),
                "INVALID_FIELD",
                "validation_rules.LEDGER.denial_reasons.INSUFFICIENT_FUNDS.denial_code must be three capital letters",
            ),
        ] {
            let reply = server
                .authorize(TENANT, OVERRIDE, &with(authorization_body(1001, "1"), json!({ "validation_rules": rules })))
                .await;
            assert_eq!((reply.status, reply.code(), reply.body["message"].as_str()), (400, code, Some(message)));
        }
        // An empty validation_rules overrides nothing and needs no scope.
        let empty = with(authorization_body(1003, "1"), json!({ "validation_rules": {} }));
        assert_decision(&server.authorize(TENANT, None, &empty).await, "APPROVED", "00", None);
    }
}

#[tokio::test]
async fn tracking_ids_make_requests_idempotent() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let body = with(authorization_body(1001, "10.00"), json!({ "tracking_id": "once-only" }));
        let first = server.authorize(TENANT, None, &body).await;
        assert_decision(&first, "APPROVED", "00", None);
        assert_eq!(first.headers["tracking_id"], "once-only", "the response names the key it is recorded under");
        let events = stack.events().await.len();
        // Same body (keys in another order, other spacing): the recorded response, byte for byte.
        let reordered: Value =
            serde_json::from_str(&format!(" {{ \"tracking_id\" : \"once-only\", {} ", &body.to_string()[1..])).unwrap();
        let replay = server.authorize(TENANT, None, &reordered).await;
        assert_eq!(replay.text, first.text, "{backend:?}");
        assert_eq!(replay.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
        assert!(!first.headers.contains_key("idempotent-replayed"), "a first decision is no replay");
        assert_eq!(available(&stack, 1001).await, 99_000, "no second hold");
        assert_eq!(stack.events().await.len(), events, "no second event pair");
        // Same tracking_id, another body (a retransmission with changed fields): the same request, so the
        // same result, marked as a replay; nothing changes.
        let changed = server.authorize(TENANT, None, &with(body.clone(), json!({ "amount": 11 }))).await;
        assert_eq!((changed.status, &changed.text), (200, &first.text), "{backend:?}");
        assert_eq!(changed.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
        assert_eq!(available(&stack, 1001).await, 99_000);
        assert_eq!(stack.events().await.len(), events, "no new event pair");
        // A tracking_id decided for a card: its CVV is not part of the request, another card gets the
        // same (recorded) result.
        let by_pan = |pan: &str| {
            with(
                authorization_body(1001, "1"),
                json!({ "account_id": null, "card": { "pan": pan, "cvv": "123" }, "mode": "CREDIT", "tracking_id": "pan-key" }),
            )
        };
        let by_card = server.authorize(TENANT, None, &by_pan("4111111111111111")).await;
        assert_decision(&by_card, "APPROVED", "00", None);
        let other_cvv =
            with(by_pan("4111111111111111"), json!({ "card": { "pan": "4111111111111111", "cvv": "999" } }));
        assert_eq!(
            server.authorize(TENANT, None, &other_cvv).await.status,
            200,
            "the CVV is not part of the request's identity"
        );
        let other_card = server.authorize(TENANT, None, &by_pan("4000000000000036")).await;
        assert_eq!(other_card.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
        assert_eq!(other_card.text, by_card.text, "the recorded decision, not one for the other card");
        // Denials are decisions too, and replay the same way.
        let denied = with(authorization_body(1002, "1"), json!({ "tracking_id": "denied-once" }));
        let first = server.authorize(TENANT, None, &denied).await;
        assert_eq!(server.authorize(TENANT, None, &denied).await.text, first.text);
        // Tracking ids are per tenant.
        let other_tenant = server
            .authorize(
                "tenant-b",
                None,
                &with(authorization_body(2001, "10.00"), json!({ "tracking_id": "once-only" })),
            )
            .await;
        assert_decision(&other_tenant, "APPROVED", "00", None);
    }
}

#[tokio::test]
async fn metadata_and_calculated_amounts_reach_both_events_and_never_the_answer() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let metadata = json!({ "order": "A-17", "items": [1, 2.50, "três"], "nested": { "ok": true } });
        let body = with(
            authorization_body(1001, "12.34"),
            json!({ "tracking_id": "meta-1", "metadata": metadata,
                    "calculated_amounts": { "contract_amount": "12.34", "fee": 0.5, "tax": "0" } }),
        );
        let reply = server.authorize(TENANT, None, &body).await;
        assert_decision(&reply, "APPROVED", "00", None);
        assert!(!reply.text.contains("A-17") && !reply.text.contains("calculated"), "{}", reply.text);
        assert_eq!(available(&stack, 1001).await, 100_000 - 1_234, "{backend:?}: amount alone moves the ledger");
        let events: Vec<_> = stack.events().await.into_iter().filter(|e| e["cid"] == "meta-1").collect();
        assert_eq!(events.len(), 2, "{backend:?}");
        for event in &events {
            assert_eq!(event["data"]["metadata"], metadata, "{backend:?}: as sent, in {}", event["domain"]);
            assert_eq!(
                event["data"]["calculated_amounts"],
                json!({ "contract_amount": 12.34, "fee": 0.5, "tax": 0.0 }),
                "{backend:?}: exact, in the currency's precision"
            );
        }
        // Bounded, validated, and nothing recorded when refused.
        for (extra, message) in [
            (json!({ "metadata": { "x": "y".repeat(4100) } }), "metadata must be at most 4096 bytes of JSON"),
            (json!({ "metadata": [1] }), "metadata must be an object"),
            (
                json!({ "calculated_amounts": { "fee": "1.234" } }),
                "calculated_amounts.fee has more decimal places than BRL allows (2)",
            ),
            (json!({ "calculated_amounts": { "fee": -1 } }), "calculated_amounts.fee must be a decimal number"),
            (
                json!({ "calculated_amounts": { "a b": 1 } }),
                "calculated_amounts.(a field name not shown) is not a name of 1 to 64 of A-Z a-z 0-9 _",
            ),
        ] {
            let refused = server.authorize(TENANT, None, &with(authorization_body(1002, "1"), extra)).await;
            assert_eq!((refused.status, refused.body["message"].as_str()), (400, Some(message)), "{backend:?}");
        }
        assert_eq!(stack.events().await.len(), 2, "{backend:?}: no event for a refused request");
    }
}

#[tokio::test]
async fn every_decision_writes_its_two_events_in_their_envelope() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let auth = server
            .authorize(
                TENANT,
                None,
                &with(
                    authorization_body(1001, "12.34"),
                    json!({ "tracking_id": "evt-1", "number_of_installments": 2, "mode": "CREDIT" }),
                ),
            )
            .await;
        let id = auth.body["authorization_id"].as_u64().unwrap();
        server.authorize(TENANT, None, &with(authorization_body(1002, "1"), json!({ "tracking_id": "evt-2" }))).await;
        let cancel = json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_authorization_id": id, "amount": 2, "tracking_id": "evt-3" });
        server.authorize(TENANT, None, &cancel).await;
        let events = stack.events().await;
        assert_eq!(events.len(), 6, "{backend:?}");
        let find =
            |cid: &str, domain: &str| events.iter().find(|e| e["cid"] == cid && e["domain"] == domain).unwrap().clone();
        for event in &events {
            for field in ["event_id", "domain", "event_type", "schema_version", "org_id", "cid", "timestamp", "data"] {
                assert!(!event[field].is_null(), "{field} in {event}");
            }
            assert_eq!(event["org_id"], TENANT);
            assert_eq!(event["schema_version"], 1);
        }
        let platform = find("evt-1", "platform-authorization");
        assert_eq!(platform["event_type"], "platform-authorization");
        let data = &platform["data"];
        assert_eq!(
            (data["authorization_id"].as_u64(), data["original_authorization_id"].as_u64()),
            (Some(id), Some(id))
        );
        assert_eq!(
            (data["category"].as_str(), data["operation"].as_str(), data["clearing_type"].as_str()),
            (Some("AUTHORIZATION"), Some("CASH_OUT"), Some("OFFLINE"))
        );
        assert_eq!((data["principal_amount"].as_f64(), data["installment_amount"].as_f64()), (Some(12.34), Some(6.17)));
        assert_eq!(
            (data["code"].clone(), &data["response_code"], &data["processing_code"]),
            (auth.body["authorization_code"].clone(), &json!("00"), &json!("003000"))
        );
        let payment = find("evt-1", "payment-methods");
        assert_eq!(payment["event_type"], "authorization");
        assert_eq!(
            payment["data"],
            json!({ "tracking_id": "evt-1", "category": "AUTHORIZATION", "mti": "0100", "clearing_type": "OFFLINE",
            "account_id": 1001, "program_id": 1, "card_id": null, "card_mode_id": null })
        );
        assert_eq!(find("evt-2", "platform-authorization")["data"]["category"], "DENIED");
        assert_eq!(find("evt-2", "payment-methods")["data"]["category"], "DECLINED");
        let partial = find("evt-3", "platform-authorization");
        assert_eq!(
            partial["data"]["installment_amount"].as_f64(),
            Some(1.0),
            "a cancellation takes its original's installments"
        );
        assert_eq!(partial["data"]["processing_code"], "003000", "and its processing code");
        assert_eq!(
            (partial["data"]["category"].as_str(), partial["data"]["operation"].as_str()),
            (Some("PARTIAL_CANCELLATION"), Some("CASH_IN"))
        );
        assert_eq!(partial["data"]["original_authorization_id"].as_u64(), Some(id));
        assert_eq!(
            find("evt-3", "payment-methods")["data"],
            json!({ "tracking_id": "evt-3", "category": "CANCELLATION", "mti": "0400", "clearing_type": "OFFLINE",
            "account_id": 1001, "program_id": 1, "card_id": null, "card_mode_id": null }),
            "{backend:?}: a cancellation's account and program are its original's"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_400_naming_the_field_and_change_nothing() {
    let (stack, server) = world(Backend::Local).await;
    let base = authorization_body(1001, "1");
    let send_raw = |text: String| {
        let server = server.clone();
        async move {
            let token = server.token(TENANT);
            let response = server
                .client
                .post(format!("{}/payment-methods/v1/authorization", server.base_url))
                .bearer_auth(token)
                .body(text)
                .send()
                .await
                .unwrap();
            Reply::read(response).await
        }
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(base.clone(), json!({ "mti": "0300" })),
            "INVALID_FIELD",
            "mti must be one of 0100, 0120, 0200, 0202, 0400, 0402, 0420",
        ),
        // Refused before the scope is looked at: no token's scope lets an advice be overridden.
        (
            with(base.clone(), json!({ "mti": "0120", "validation_rules": { "LEDGER": { "force": true } } })),
            "INVALID_FIELD",
            "validation_rules may not be sent with advices (mti 0120, 0420): an advice reports a decision already made",
        ),
        (
            json!({ "mti": "0420", "currency": "BRL", "network": "VISA", "account_id": 1001 }),
            "MISSING_FIELD",
            "original_authorization_id or original_tracking_id is required for mti 0420",
        ),
        (
            with(base.clone(), json!({ "mti": "0120", "card": { "stored_id": "tok_501" } })),
            "MISSING_FIELD",
            "mode is required for card authorizations (mti 0120)",
        ),
        (with(base.clone(), json!({ "mti": null })), "MISSING_FIELD", "mti is required "),
        (
            with(base.clone(), json!({ "currency": "XYZ" })),
            "INVALID_FIELD",
            "currency must be an ISO 4217 code, alphabetic (BRL) or numeric (986)",
        ),
        (with(base.clone(), json!({ "currency": 986 })), "INVALID_FIELD", "currency must be a string"),
        (
            with(base.clone(), json!({ "number_of_installments": 0 })),
            "INVALID_FIELD",
            "number_of_installments must be an integer from 1 to 100",
        ),
        (
            with(base.clone(), json!({ "number_of_installments": 101 })),
            "INVALID_FIELD",
            "number_of_installments must be an integer from 1 to 100",
        ),
        (with(base.clone(), json!({ "entry_mode": "1" })), "INVALID_FIELD", "entry_mode must be 2 or 3 digits"),
        (with(base.clone(), json!({ "entry_mode": "ab" })), "INVALID_FIELD", "entry_mode must be 2 or 3 digits"),
        (with(base.clone(), json!({ "entry_mode": "1234" })), "INVALID_FIELD", "entry_mode must be 1 to 3 characters"),
        (with(base.clone(), json!({ "entry_mode": null })), "MISSING_FIELD", "entry_mode is required for mti 0100"),
        (with(base.clone(), json!({ "amount": null })), "MISSING_FIELD", "amount is required for mti 0100"),
        (with(base.clone(), json!({ "amount": -1 })), "INVALID_FIELD", "amount must be a decimal number"),
        (
            with(base.clone(), json!({ "amount": 0 })),
            "INVALID_FIELD",
            "amount must be greater than zero and at most 1000000000000000 minor units",
        ),
        (
            with(base.clone(), json!({ "amount": 1.001 })),
            "INVALID_FIELD",
            "amount has more decimal places than BRL allows (2)",
        ),
        (with(base.clone(), json!({ "amount": "ten" })), "INVALID_FIELD", "amount must be a decimal number"),
        (
            with(base.clone(), json!({ "processing_code": null })),
            "MISSING_FIELD",
            "processing_code is required for mti 0100",
        ),
        (with(base.clone(), json!({ "network": null })), "MISSING_FIELD", "network is required "),
        (
            with(base.clone(), json!({ "account_id": null })),
            "MISSING_FIELD",
            "one of account_id, document_number, card.pan, card.stored_id or bank is required for mti 0100",
        ),
        (
            with(base.clone(), json!({ "account_id": "1001" })),
            "INVALID_FIELD",
            "account_id must be an integer from 1 to 9223372036854775807",
        ),
        (
            with(base.clone(), json!({ "card": { "pan": "4111111111111111" } })),
            "MISSING_FIELD",
            "mode is required for card authorizations (mti 0100)",
        ),
        (
            with(base.clone(), json!({ "card": { "pan": "4111-1111-1111-1111" }, "mode": "CREDIT" })),
            "INVALID_FIELD",
            "card.pan must be 12 to 19 digits",
        ),
        (
            with(base.clone(), json!({ "card": {} })),
            "MISSING_FIELD",
            "card.pan or card.stored_id is required when card is given",
        ),
        (
            with(base.clone(), json!({ "card": { "pan": "4111111111111111", "track2": "x" } })),
            "UNKNOWN_FIELD",
            "card.track2 is not a field",
        ),
        (with(base.clone(), json!({ "mode": "PREPAID" })), "INVALID_FIELD", "mode must be one of CREDIT, DEBIT"),
        (
            with(base.clone(), json!({ "confirmation_mode": "LATER" })),
            "INVALID_FIELD",
            "confirmation_mode must be one of ONLINE, OFFLINE",
        ),
        (
            with(base.clone(), json!({ "has_error": true })),
            "INVALID_FIELD",
            "has_error may be true only for confirmations (mti 0202)",
        ),
        (
            with(base.clone(), json!({ "bank": { "account": "1" } })),
            "MISSING_FIELD",
            "bank.branch is required when bank is given",
        ),
        (
            with(base.clone(), json!({ "local_date_time": "yesterday" })),
            "INVALID_FIELD",
            "local_date_time must be an RFC 3339 date-time",
        ),
        (
            with(base.clone(), json!({ "posting_date": "2026-02-30" })),
            "INVALID_FIELD",
            "posting_date must be a date, YYYY-MM-DD",
        ),
        (with(base.clone(), json!({ "metadata": "x" })), "INVALID_FIELD", "metadata must be an object"),
        (
            with(base.clone(), json!({ "tracking_id": "has spaces" })),
            "INVALID_FIELD",
            "tracking_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -",
        ),
        (with(base.clone(), json!({ "surprise": 1 })), "UNKNOWN_FIELD", "surprise is not a field of this request"),
        (
            with(base.clone(), json!({ "4111111111111111": 1 })),
            "UNKNOWN_FIELD",
            "(a field name not shown) is not a field of this request",
        ),
        (
            with(base.clone(), json!({ "bank": { "account": "1#2", "branch": "3" } })),
            "INVALID_FIELD",
            "bank.account must be 1 to 32 letters, digits, '.', '_' or '-'",
        ),
        (
            with(base.clone(), json!({ "document_number": "1#2" })),
            "INVALID_FIELD",
            "document_number must be letters, digits, '.', '_' or '-'",
        ),
        (
            with(base.clone(), json!({ "card": { "stored_id": "tok#1" }, "mode": "CREDIT" })),
            "INVALID_FIELD",
            "card.stored_id must be 1 to 64 letters, digits, '.', '_' or '-'",
        ),
        (
            json!({ "mti": "0202", "currency": "BRL", "network": "VISA" }),
            "MISSING_FIELD",
            "original_authorization_id or original_tracking_id is required for mti 0202",
        ),
    ];
    for (body, code, message) in cases {
        let reply = server.authorize(TENANT, None, &body).await;
        assert_eq!((reply.status, reply.code(), reply.body["message"].as_str()), (400, code, Some(message)), "{body}");
        assert!(!reply.text.contains("4111111111111111"), "a PAN never comes back");
    }
    for text in ["{nope", "[]", "", "null"] {
        let reply = send_raw(text.to_owned()).await;
        assert_eq!((reply.status, reply.code()), (400, "MALFORMED_JSON"), "{text}");
    }
    let unauthenticated = server
        .client
        .post(format!("{}/payment-methods/v1/authorization", server.base_url))
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    let reply = Reply::read(unauthenticated).await;
    assert_eq!((reply.status, reply.code()), (401, "UNAUTHORIZED"));
    assert_eq!(available(&stack, 1001).await, 100_000);
    assert!(stack.events().await.is_empty(), "no event for a request that was not decided");
}

#[tokio::test]
async fn an_unreadable_account_is_denied_96_and_a_dead_store_is_500() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let hold = with(authorization_body(1003, "1"), json!({ "tracking_id": "hold-1003" }));
        assert_decision(&server.authorize(TENANT, None, &hold).await, "APPROVED", "00", None);
        match backend {
            Backend::Local => {
                let db = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
                db.execute(
                    "UPDATE items SET body = 'garbage' WHERE pk = 'TENANT#tenant-a' AND sk = 'ACCOUNT#1003'",
                    (),
                )
                .unwrap();
            }
            Backend::Aws => {
                let (client, _) = stack.dynamodb.as_ref().unwrap();
                let (ledger, _) = stack.ledger_tables.as_ref().unwrap();
                client
                    .put_item()
                    .table_name(ledger)
                    .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("TENANT#tenant-a".into()))
                    .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT#1003".into()))
                    .send()
                    .await
                    .unwrap();
            }
        }
        let reply = server.authorize(TENANT, None, &authorization_body(1003, "1")).await;
        assert_decision(&reply, "DENIED", "96", Some("SED"));
        assert_eq!(result(&reply, "ACCOUNT")["reason"], "ACCOUNT_ERROR");
        // A cancellation does not read its account first; moving money on it fails, and the decision
        // taken again reads it, as an authorization's is.
        let cancel =
            json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "hold-1003" });
        let reply = server.authorize(TENANT, None, &cancel).await;
        assert_decision(&reply, "DENIED", "96", Some("SED"));
        assert_eq!(result(&reply, "ACCOUNT")["reason"], "ACCOUNT_ERROR", "{backend:?}");

        // The store itself gone: no decision can be recorded, so none is made.
        match backend {
            Backend::Local => {
                let db = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
                db.execute_batch("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no'); END;")
                    .unwrap();
            }
            Backend::Aws => {
                let (client, _) = stack.dynamodb.as_ref().unwrap();
                client.delete_table().table_name(&stack.ledger_tables.as_ref().unwrap().1).send().await.unwrap();
            }
        }
        let before = available(&stack, 1001).await;
        let reply = server.authorize(TENANT, None, &authorization_body(1001, "1")).await;
        assert_eq!(
            (reply.status, reply.code(), reply.body["message"].as_str()),
            (500, "INTERNAL_ERROR", Some("Internal server error")),
            "{backend:?}"
        );
        assert_eq!(
            available(&stack, 1001).await,
            before,
            "{backend:?}: the ledger is untouched: the transaction is all or nothing"
        );
    }
}

/// What an older version of this code would have left: the authorization changed (here, confirmed
/// 6.00 of its 10.00) without the copy its tracking record keeps. A cancellation by tracking_id
/// decides on the copy, its commit is refused on the authorization's version, and it decides again
/// on the authorization itself.
#[tokio::test]
async fn a_stale_copy_of_an_original_is_caught_by_its_version_and_read_again() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (stack, server) = world(Backend::Aws).await;
    let hold = server
        .authorize(TENANT, None, &with(authorization_body(1001, "10.00"), json!({ "tracking_id": "stale-1" })))
        .await;
    let id = hold.body["authorization_id"].as_u64().unwrap();
    let (client, _) = stack.dynamodb.as_ref().unwrap();
    let (ledger, _) = stack.ledger_tables.as_ref().unwrap();
    let key = [("pk", "TENANT#tenant-a".to_owned()), ("sk", format!("AUTH#{id}"))]
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)));
    let mut item = client.get_item().table_name(ledger).set_key(Some(key.into())).send().await.unwrap().item.unwrap();
    let mut body: Value = serde_json::from_str(item["body"].as_s().unwrap()).unwrap();
    (body["held"], body["confirmed"], body["version"]) = (json!(0), json!(600), json!(2));
    item.insert("body".into(), AttributeValue::S(body.to_string()));
    item.insert("version".into(), AttributeValue::N("2".into()));
    client.put_item().table_name(ledger).set_item(Some(item)).send().await.unwrap();

    let before = stack.dynamodb_trips.count();
    let cancel = json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "stale-1" });
    let cancelled = server.authorize(TENANT, None, &cancel).await;
    assert_decision(&cancelled, "APPROVED", "00", None);
    assert!(
        cancelled.text.contains(r#""amount":6.00"#),
        "what the authorization holds, not its stale copy: {}",
        cancelled.text
    );
    assert_eq!(
        stack.dynamodb_trips.operations()[before..],
        ["BatchGetItem", "TransactWriteItems", "BatchGetItem", "BatchGetItem", "BatchGetItem", "TransactWriteItems"],
        "the copy, a refused commit, then its decision, the authorization and its account"
    );
    assert_eq!(available(&stack, 1001).await, 99_600, "the 10.00 hold, less the 6.00 cancelled");
    assert_decision(&server.authorize(TENANT, None, &cancel).await, "DENIED", "12", Some("OWS"));
}

/// Confirmations and cancellations of one hold racing, one naming it by tracking_id (read from the
/// copy DynamoDB keeps with its tracking record) and the other by id: settled once, the ledger adds
/// up, and the copy never disagrees with the authorization.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settlements_by_tracking_id_and_by_id_racing_settle_once() {
    use cofre_domain::authorizations::{AuthorizationId, LedgerItem, LedgerKey};
    use cofre_domain::tenant::TenantId;
    use cofre_domain::tracking::TrackingId;
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        for round in 0..8 {
            let tracking = format!("race-hold-{round}");
            let hold = server
                .authorize(TENANT, None, &with(authorization_body(1001, "10.00"), json!({ "tracking_id": tracking })))
                .await;
            let id = hold.body["authorization_id"].as_u64().unwrap();
            let (by_id, by_tracking) =
                (("original_authorization_id", json!(id)), ("original_tracking_id", json!(tracking)));
            let (confirm_by, cancel_by) = if round % 2 == 0 { (by_tracking, by_id) } else { (by_id, by_tracking) };
            let mut confirm = json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "amount": 4 });
            confirm[confirm_by.0] = confirm_by.1;
            let mut cancel = json!({ "mti": "0400", "currency": "BRL", "network": "VISA" });
            cancel[cancel_by.0] = cancel_by.1;
            let (a, b) = (server.clone(), server.clone());
            let (confirmed, cancelled) =
                tokio::join!(async move { a.authorize(TENANT, None, &confirm).await }, async move {
                    b.authorize(TENANT, None, &cancel).await
                });
            match (confirmed.body["status"].as_str(), cancelled.body["status"].as_str()) {
                // Confirmed 4.00 (6.00 released), then the cancellation released the 4.00 confirmed;
                // or cancelled first, and nothing was left to confirm.
                (Some("APPROVED" | "DENIED"), Some("APPROVED")) => {}
                other => panic!("{backend:?} round {round}: {other:?}"),
            }
            assert_eq!(available(&stack, 1001).await, 100_000, "{backend:?} round {round}");
            let tenant = TenantId::parse(TENANT).unwrap();
            let keys = [
                LedgerKey::Authorization(AuthorizationId(id)),
                LedgerKey::AuthorizationOf(TrackingId::parse(&tracking).unwrap()),
            ];
            let items = stack.ledger.get(&tenant, &keys).await.unwrap();
            let (Some(Ok(LedgerItem::Authorization(stored))), Some(Ok(of))) = (&items[0], &items[1]) else {
                panic!("{backend:?}: {items:?}")
            };
            assert_eq!((stored.held, stored.confirmed), (0, 0), "{backend:?} round {round}: settled once, fully");
            match of {
                LedgerItem::Authorization(copy) => assert_eq!(copy, stored, "{backend:?} round {round}"),
                LedgerItem::Recorded(recorded) => assert_eq!(recorded.authorization_id.0, id),
                other => panic!("{backend:?}: {other:?}"),
            }
        }
    }
}

/// Accounts of tenant A that force original authorization: 3001 (NORMAL, 100.00, card 601) and 3002
/// (BLOCKED, 10.00).
async fn forcing_accounts(stack: &Stack) {
    let account = |id: i64, document: &str, status: &str, limit: &str| {
        json!({ "tenant_id": TENANT, "account_id": id, "program_id": 1, "document_number": document,
            "status": status, "currency": "BRL", "limit": limit, "force_original_authorization": true })
    };
    let mut main = account(3001, "77777777777", "NORMAL", "100.00");
    main["cards"] = json!([{ "id": 601, "pan": "4000000000000044", "stored_id": "tok_601", "status": "NORMAL",
        "expiry": "2030-12", "mode": "COMBO" }]);
    assert_eq!(stack.seed_accounts(&[main, account(3002, "88888888888", "BLOCKED", "10.00")]).await, (2, 0));
}

fn forced_confirmation(account_id: i64, amount: &str, extra: Value) -> Value {
    let body = format!(
        r#"{{"mti":"0202","currency":"BRL","network":"VISA","account_id":{account_id},"amount":{amount},"processing_code":"003000"}}"#
    );
    with(serde_json::from_str(&body).unwrap(), extra)
}

#[tokio::test]
async fn a_forced_confirmation_posts_on_an_account_that_forces_original_authorization() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        forcing_accounts(&stack).await;

        // No original named, the scope held: posts 25.00 as confirmed spend, recorded as forced.
        let body = forced_confirmation(3001, "25", json!({ "tracking_id": "forced-1" }));
        let forced = server.authorize(TENANT, OVERRIDE, &body).await;
        assert_decision(&forced, "APPROVED", "00", None);
        assert_eq!(
            (&forced.body["mti"], &forced.body["account_id"], &forced.body["original_authorization_id"]),
            (&json!("0202"), &json!(3001), &Value::Null),
            "{backend:?}"
        );
        assert!(forced.text.contains(r#""amount":25.00"#), "{}", forced.text);
        let original = result(&forced, "ORIGINAL_AUTHORIZATION");
        assert_eq!(
            (original["status"].as_str(), original["reason"].as_str(), &original["additional_data"]),
            (Some("APPROVED"), Some("FORCED_CONFIRMATION"), &json!({ "original_found": false }))
        );
        assert_eq!(
            (result(&forced, "LEDGER")["reason"].as_str(), result(&forced, "ACCOUNT_STATUS")["reason"].as_str()),
            (Some("SUFFICIENT_FUNDS"), Some("NOT_APPLICABLE"))
        );
        assert_eq!(forced.body["overrides_applied"], json!(["ORIGINAL_AUTHORIZATION:forced_confirmation"]));
        assert_eq!(available(&stack, 3001).await, 7_500, "{backend:?}");
        let events: Vec<_> = stack.events().await.into_iter().filter(|e| e["cid"] == "forced-1").collect();
        assert_eq!(events.len(), 2, "{backend:?}");
        let platform = &events.iter().find(|e| e["domain"] == "platform-authorization").unwrap()["data"];
        assert_eq!(
            (&platform["category"], &platform["operation"], &platform["contract_amount"], &platform["processing_code"]),
            (&json!("CONFIRMATION"), &json!("CASH_OUT"), &json!(25.0), &json!("003000"))
        );
        assert_eq!(platform["original_authorization_id"], forced.body["authorization_id"]);
        let payment = &events.iter().find(|e| e["domain"] == "payment-methods").unwrap()["data"];
        assert_eq!((&payment["mti"], &payment["account_id"]), (&json!("0202"), &json!(3001)));

        // Idempotent on tracking_id, like every decision.
        let total_events = stack.events().await.len();
        let replay = server.authorize(TENANT, OVERRIDE, &body).await;
        assert_eq!(replay.text, forced.text, "{backend:?}");
        assert_eq!(replay.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
        assert_eq!(available(&stack, 3001).await, 7_500, "{backend:?}: posted once");
        assert_eq!(stack.events().await.len(), total_events);

        // Without the scope, asking to force (naming no original) is a 403, before anything is read.
        let unscoped = server.authorize(TENANT, None, &forced_confirmation(3001, "1", json!({}))).await;
        assert_eq!(
            (unscoped.status, unscoped.code(), unscoped.body["message"].as_str()),
            (403, "FORBIDDEN", Some("forced confirmations require the authorizations:override scope"))
        );
        // Naming an original is no ask: not found, it is the denial it always was, scope or setting aside.
        let lost = |account_id, tracking: &str| {
            forced_confirmation(account_id, "1", json!({ "original_tracking_id": tracking }))
        };
        for (account_id, scope) in [(3001, None), (1001, OVERRIDE)] {
            let denied = server.authorize(TENANT, scope, &lost(account_id, "never-held")).await;
            assert_decision(&denied, "DENIED", "12", Some("ONF"));
            assert_eq!(result(&denied, "ORIGINAL_AUTHORIZATION")["additional_data"], json!({}), "{backend:?}");
            assert_eq!(denied.body["overrides_applied"], json!([]));
        }
        // Without the setting, naming no original is refused as it always was.
        let unset = server.authorize(TENANT, OVERRIDE, &forced_confirmation(1001, "1", json!({}))).await;
        assert_eq!(
            (unset.status, unset.code(), unset.body["message"].as_str()),
            (400, "MISSING_FIELD", Some("original_authorization_id or original_tracking_id is required for mti 0202"))
        );
        let unknown = server.authorize(TENANT, OVERRIDE, &forced_confirmation(9999, "1", json!({}))).await;
        assert_eq!((unknown.status, unknown.code()), (400, "MISSING_FIELD"), "{backend:?}: an unknown account");
        // What a forced confirmation needs, missing: 400s naming it.
        let why = "for forced confirmations (mti 0202 without original_authorization_id or original_tracking_id)";
        for (extra, message) in [
            (json!({ "amount": null }), format!("amount is required {why}")),
            (json!({ "processing_code": null }), format!("processing_code is required {why}")),
            (
                json!({ "account_id": null }),
                "original_authorization_id or original_tracking_id is required for mti 0202".to_owned(),
            ),
        ] {
            let refused = server.authorize(TENANT, OVERRIDE, &forced_confirmation(3001, "1", extra)).await;
            assert_eq!(
                (refused.status, refused.code(), refused.body["message"].as_str()),
                (400, "MISSING_FIELD", Some(message.as_str()))
            );
        }
        assert_eq!(available(&stack, 3001).await, 7_500, "{backend:?}: nothing refused moved money");
        assert_eq!(available(&stack, 1001).await, 100_000);

        // An original that is found is confirmed as any: the setting changes nothing.
        let hold = with(authorization_body(3001, "10.00"), json!({ "tracking_id": "hold-3001" }));
        let held = server.authorize(TENANT, None, &hold).await;
        assert_decision(&held, "APPROVED", "00", None);
        let found = server
            .authorize(
                TENANT,
                OVERRIDE,
                &forced_confirmation(3001, "4", json!({ "original_tracking_id": "hold-3001" })),
            )
            .await;
        assert_decision(&found, "APPROVED", "00", None);
        assert_eq!(result(&found, "ORIGINAL_AUTHORIZATION")["reason"], "ORIGINAL_FOUND");
        assert_eq!(found.body["original_authorization_id"], held.body["authorization_id"]);
        assert_eq!(found.body["overrides_applied"], json!([]));
        assert_eq!(available(&stack, 3001).await, 7_100, "{backend:?}: 4.00 of the 10.00 hold confirmed");

        // Named by card, its original not found: forced, saying what was named.
        let by_card = forced_confirmation(
            3001,
            "5",
            json!({ "account_id": null, "card": { "stored_id": "tok_601" }, "original_tracking_id": "lost-1" }),
        );
        let reply = server.authorize(TENANT, OVERRIDE, &by_card).await;
        assert_decision(&reply, "APPROVED", "00", None);
        assert_eq!(
            result(&reply, "ORIGINAL_AUTHORIZATION")["additional_data"],
            json!({ "original_found": false, "original_tracking_id": "lost-1" })
        );
        assert_eq!(available(&stack, 3001).await, 6_600);

        // Beyond the available amount it posts all the same (the network confirmed it), and says so.
        let reply = server.authorize(TENANT, OVERRIDE, &forced_confirmation(3001, "100", json!({}))).await;
        assert_decision(&reply, "APPROVED", "00", None);
        let ledger = result(&reply, "LEDGER");
        assert_eq!(
            (ledger["reason"].as_str(), &ledger["additional_data"]),
            (
                Some("INSUFFICIENT_FUNDS"),
                &json!({ "available": "66.00", "requested": "100.00", "forced": true, "overdraft": "34.00" })
            )
        );
        assert_eq!(available(&stack, 3001).await, -3_400, "{backend:?}: the overdraft its decision states");
        // On a BLOCKED account too; in another currency, never.
        let blocked = server.authorize(TENANT, OVERRIDE, &forced_confirmation(3002, "2", json!({}))).await;
        assert_decision(&blocked, "APPROVED", "00", None);
        assert_eq!(available(&stack, 3002).await, 800);
        let usd =
            server.authorize(TENANT, OVERRIDE, &forced_confirmation(3001, "1", json!({ "currency": "USD" }))).await;
        assert_decision(&usd, "DENIED", "12", Some("CMM"));
        assert_eq!(result(&usd, "ORIGINAL_AUTHORIZATION")["reason"], "FORCED_CONFIRMATION");

        // The forced confirmation is the record of what it posted: a 0400 cancels it, as a 0200's.
        let cancel = |amount: Option<u64>| {
            let mut body =
                json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_tracking_id": "forced-1" });
            if let Some(amount) = amount {
                body["amount"] = json!(amount);
            }
            body
        };
        let partial = server.authorize(TENANT, None, &cancel(Some(5))).await;
        assert_decision(&partial, "APPROVED", "00", None);
        assert_eq!(partial.body["original_authorization_id"], forced.body["authorization_id"]);
        let rest = server.authorize(TENANT, None, &cancel(None)).await;
        assert_decision(&rest, "APPROVED", "00", None);
        assert!(rest.text.contains(r#""amount":20.00"#), "{}", rest.text);
        assert_decision(&server.authorize(TENANT, None, &cancel(None)).await, "DENIED", "12", Some("OWS"));
        assert_eq!(available(&stack, 3001).await, -900, "{backend:?}: the 25.00 back");
    }
}

/// Forced confirmations racing each other on 100.00: all post (the network confirmed them), and a race
/// never overdraws unrecorded: exactly the first 100.00 is judged SUFFICIENT_FUNDS, every 0202 after
/// it records its overdraft.
#[tokio::test]
async fn racing_forced_confirmations_all_post_and_only_recorded_overdrafts_overdraw() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        forcing_accounts(&stack).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let server = server.clone();
            let body = forced_confirmation(3001, "10", json!({ "tracking_id": format!("race-{i}") }));
            tasks.spawn(async move { server.authorize(TENANT, OVERRIDE, &body).await });
        }
        let replies = tasks.join_all().await;
        let mut covered = 0;
        for reply in &replies {
            assert_decision(reply, "APPROVED", "00", None);
            match result(reply, "LEDGER")["reason"].as_str() {
                Some("SUFFICIENT_FUNDS") => covered += 1,
                Some("INSUFFICIENT_FUNDS") => assert_eq!(result(reply, "LEDGER")["additional_data"]["forced"], true),
                other => panic!("{backend:?}: {other:?}"),
            }
        }
        assert_eq!(covered, 10, "{backend:?}: 100.00 covers ten");
        assert_eq!(available(&stack, 3001).await, -6_000, "{backend:?}");
    }
}
