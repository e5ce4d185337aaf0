//! Reading back over real HTTP on both backends: `GET /payment-methods/v1/authorizations/{id}` and
//! `…/by-tracking-id/{tracking_id}` (the decision, its rules' trace, what it holds now, what acted on
//! it) and `GET /payment-methods/v1/accounts/{account_id}/balance`, through a whole authorization's
//! life; another tenant's ids, unknown ids and malformed ones, and what those leave stored.

use cofre_tests::{Backend, Reply, Stack, TestServer, authorization_body, authorization_world as world};
use serde_json::{Value, json};

const TENANT: &str = "tenant-a";

async fn get(server: &TestServer, tenant: &str, path: &str) -> Reply {
    server.call(tenant, "GET", path, "", &[]).await
}

async fn by_id(server: &TestServer, id: u64) -> Reply {
    get(server, TENANT, &format!("/payment-methods/v1/authorizations/{id}")).await
}

async fn by_tracking(server: &TestServer, tracking: &str) -> Reply {
    get(server, TENANT, &format!("/payment-methods/v1/authorizations/by-tracking-id/{tracking}")).await
}

async fn balance(server: &TestServer, tenant: &str, account: &str) -> Reply {
    get(server, tenant, &format!("/payment-methods/v1/accounts/{account}/balance")).await
}

/// `body` as tenant-a, which must be decided `status`.
async fn decided(server: &TestServer, body: Value, status: &str) -> Reply {
    let reply = server.authorize(TENANT, None, &body).await;
    assert_eq!((reply.status, reply.body["status"].as_str()), (200, Some(status)), "{}", reply.text);
    reply
}

fn settlement(mti: &str, original_tracking: &str, tracking: &str, amount: Option<&str>) -> Value {
    let mut body = json!({ "mti": mti, "currency": "BRL", "network": "VISA", "original_tracking_id": original_tracking,
        "tracking_id": tracking });
    if let Some(amount) = amount {
        body["amount"] = serde_json::from_str(amount).unwrap();
    }
    body
}

/// The `"held":…,"confirmed":…,"cancelled":…` of a read, as its text has them (exact decimals).
fn holds(held: &str, confirmed: &str, cancelled: &str) -> String {
    format!(r#""held":{held},"confirmed":{confirmed},"cancelled":{cancelled}"#)
}

/// Each history entry as (mti, category, amount as its text has it, tracking_id).
fn history(reply: &Reply) -> Vec<(String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let entries = reply.body["history"].as_array().unwrap();
    // The amounts' exact decimal text, in order (a parsed JSON number would lose it).
    let amounts: Vec<&str> =
        reply.text.split(r#","amount":"#).skip(1).map(|rest| rest.split(',').next().unwrap()).collect();
    let amounts = &amounts[amounts.len() - entries.len() - 1..amounts.len() - 1]; // the decision's is last
    entries
        .iter()
        .zip(amounts)
        .map(|(e, amount)| (text(&e["mti"]), text(&e["category"]), (*amount).to_owned(), text(&e["tracking_id"])))
        .collect()
}

fn entry(mti: &str, category: &str, amount: &str, tracking: &str) -> (String, String, String, String) {
    (mti.to_owned(), category.to_owned(), amount.to_owned(), tracking.to_owned())
}

#[tokio::test]
async fn an_authorization_reads_back_as_it_stands_with_what_acted_on_it() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let auth = decided(
            &server,
            json!({ "mti": "0100", "amount": 10.50, "currency": "BRL", "network": "VISA",
            "account_id": 1001, "entry_mode": "01", "processing_code": "003000", "tracking_id": "rb-1" }),
            "APPROVED",
        )
        .await;
        let id = auth.body["authorization_id"].as_u64().unwrap();

        // Fresh: the decision as the POST answered it, the hold, nothing else.
        let read = by_id(&server, id).await;
        assert_eq!(read.status, 200, "{backend:?}: {}", read.text);
        assert_eq!(read.headers["content-type"], "application/json");
        assert_eq!(read.body["decision"], auth.body, "{backend:?}: the decision and its rules' trace");
        assert!(read.text.contains(&format!(r#","decision":{}}}"#, auth.text)), "byte for byte: {}", read.text);
        assert!(read.text.contains(&holds("10.50", "0.00", "0.00")), "{backend:?}: {}", read.text);
        assert_eq!(
            (read.body["authorization_id"].as_u64(), &read.body["tracking_id"], &read.body["status"]),
            (Some(id), &json!("rb-1"), &json!("APPROVED"))
        );
        assert_eq!(
            (&read.body["currency"], &read.body["history"], &read.body["history_unlisted"]),
            (&json!("BRL"), &json!([]), &json!(0))
        );
        assert_eq!(by_tracking(&server, "rb-1").await.text, read.text, "{backend:?}: the same by tracking_id");
        let account = balance(&server, TENANT, "1001").await;
        assert_eq!(account.status, 200);
        assert_eq!(
            account.text, r#"{"account_id":1001,"currency":"BRL","limit":1000.00,"available":989.50,"held":10.50}"#,
            "{backend:?}"
        );

        // Confirmed for 6.00: 4.50 released; then 2.00 of it cancelled, that cancellation confirmed.
        let confirm = decided(&server, settlement("0202", "rb-1", "rb-confirm", Some("6")), "APPROVED").await;
        let read = by_id(&server, id).await;
        assert!(read.text.contains(&holds("0.00", "6.00", "4.50")), "{backend:?}: {}", read.text);
        assert_eq!(history(&read), [entry("0202", "CONFIRMATION", "6.00", "rb-confirm")], "{backend:?}");
        assert_eq!(read.body["history"][0]["authorization_id"], confirm.body["authorization_id"]);
        assert_eq!(read.body["history"][0]["created_at"], confirm.body["created_at"]);
        assert_eq!(read.body["decision"], auth.body, "{backend:?}: the decision stays as it was answered");
        assert_eq!(
            balance(&server, TENANT, "1001").await.text,
            r#"{"account_id":1001,"currency":"BRL","limit":1000.00,"available":994.00,"held":0.00}"#,
            "{backend:?}: a confirmation moves the hold to spend"
        );
        let cancel = decided(&server, settlement("0400", "rb-1", "rb-cancel", Some("2")), "APPROVED").await;
        decided(&server, settlement("0402", "rb-cancel", "rb-cancel-ok", None), "APPROVED").await;
        // Denied: it changed nothing, so it is no part of the history.
        let denied = decided(&server, settlement("0400", "rb-1", "rb-too-much", Some("100")), "DENIED").await;
        let read = by_tracking(&server, "rb-1").await;
        assert!(read.text.contains(&holds("0.00", "4.00", "6.50")), "{backend:?}: {}", read.text);
        assert_eq!(
            history(&read),
            [
                entry("0202", "CONFIRMATION", "6.00", "rb-confirm"),
                entry("0400", "PARTIAL_CANCELLATION", "2.00", "rb-cancel")
            ],
            "{backend:?}"
        );
        assert_eq!(by_id(&server, id).await.text, read.text, "{backend:?}");
        assert_eq!(
            balance(&server, TENANT, "1001").await.text,
            r#"{"account_id":1001,"currency":"BRL","limit":1000.00,"available":996.00,"held":0.00}"#
        );

        // A cancellation holds nothing; its own history is its confirmation.
        let read = by_tracking(&server, "rb-cancel").await;
        assert_eq!(read.body["decision"], cancel.body, "{backend:?}");
        assert!(read.text.contains(&holds("0.00", "0.00", "0.00")), "{backend:?}: {}", read.text);
        assert_eq!(history(&read), [entry("0402", "CONFIRMATION", "0.00", "rb-cancel-ok")], "{backend:?}");
        // A denial reads back as it was decided, holding nothing.
        let read = by_tracking(&server, "rb-too-much").await;
        assert_eq!((read.body["status"].as_str(), &read.body["decision"]), (Some("DENIED"), &denied.body));
        assert!(read.text.contains(&holds("0.00", "0.00", "0.00")), "{backend:?}: {}", read.text);

        // The rest cancelled: nothing can act on it now, and it still reads back whole.
        decided(&server, settlement("0400", "rb-1", "rb-rest", None), "APPROVED").await;
        let read = by_tracking(&server, "rb-1").await;
        assert!(read.text.contains(&holds("0.00", "0.00", "10.50")), "{backend:?}: {}", read.text);
        assert_eq!(history(&read).len(), 3, "{backend:?}");
        assert_eq!(history(&read)[2], entry("0400", "CANCELLATION", "4.00", "rb-rest"));
        assert_eq!(by_id(&server, id).await.text, read.text, "{backend:?}");
        assert_eq!(stack.account(TENANT, 1001).await.available, 100_000, "{backend:?}: everything given back");
    }
}

#[tokio::test]
async fn an_online_authorization_and_a_forced_confirmation_read_back_as_confirmed_spend() {
    for backend in Backend::ALL {
        let (_stack, server) = world(backend).await;
        let mut online = authorization_body(1001, "30.00");
        online["mti"] = json!("0200");
        online["tracking_id"] = json!("rb-online");
        decided(&server, online, "APPROVED").await;
        let read = by_tracking(&server, "rb-online").await;
        assert!(read.text.contains(&holds("0.00", "30.00", "0.00")), "{backend:?}: {}", read.text);

        // Account 1002 is BLOCKED: a denial holds nothing and the account holds nothing.
        decided(
            &server,
            json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA", "account_id": 1002,
            "entry_mode": "01", "processing_code": "003000", "tracking_id": "rb-blocked" }),
            "DENIED",
        )
        .await;
        let read = by_tracking(&server, "rb-blocked").await;
        assert_eq!(read.body["status"], "DENIED", "{backend:?}");
        assert!(read.text.contains(&holds("0.00", "0.00", "0.00")), "{backend:?}: {}", read.text);
        assert_eq!(
            balance(&server, TENANT, "1002").await.text,
            r#"{"account_id":1002,"currency":"BRL","limit":500.00,"available":500.00,"held":0.00}"#
        );
    }
}

#[tokio::test]
async fn another_tenants_ids_unknown_ids_and_malformed_ones_are_refused_and_change_nothing() {
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let auth = decided(
            &server,
            json!({ "mti": "0100", "amount": 5, "currency": "BRL", "network": "VISA",
            "account_id": 1001, "entry_mode": "01", "processing_code": "003000", "tracking_id": "rb-mine" }),
            "APPROVED",
        )
        .await;
        let id = auth.body["authorization_id"].as_u64().unwrap();
        let events = stack.events().await.len();
        let account = stack.account(TENANT, 1001).await;

        let not_found = r#"{"code":"AUTHORIZATION_NOT_FOUND","message":"Authorization not found"}"#;
        let no_account = r#"{"code":"ACCOUNT_NOT_FOUND","message":"Account not found"}"#;
        let cases = [
            // Another tenant's: as if nobody had them.
            ("tenant-b", format!("/payment-methods/v1/authorizations/{id}"), 404, not_found.to_owned()),
            ("tenant-b", "/payment-methods/v1/authorizations/by-tracking-id/rb-mine".into(), 404, not_found.into()),
            ("tenant-b", "/payment-methods/v1/accounts/1001/balance".into(), 404, no_account.into()),
            (TENANT, "/payment-methods/v1/accounts/2001/balance".into(), 404, no_account.into()),
            // Nobody's.
            (TENANT, format!("/payment-methods/v1/authorizations/{}", id + 1), 404, not_found.into()),
            (TENANT, "/payment-methods/v1/authorizations/9007199254740991".into(), 404, not_found.into()),
            (TENANT, "/payment-methods/v1/authorizations/by-tracking-id/rb-nobody".into(), 404, not_found.into()),
            (TENANT, "/payment-methods/v1/accounts/9223372036854775807/balance".into(), 404, no_account.into()),
        ];
        for (tenant, path, status, body) in cases {
            let reply = get(&server, tenant, &path).await;
            assert_eq!((reply.status, reply.text.as_str()), (status, body.as_str()), "{backend:?}: {tenant} {path}");
        }
        let by_id_must = "authorization_id must be a whole number from 1 to 9007199254740991";
        let tracking_must = "tracking_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -";
        let account_must = "account_id must be a whole number from 1 to 9223372036854775807";
        let long = "t".repeat(129);
        let malformed = [
            ("/payment-methods/v1/authorizations/0", by_id_must),
            ("/payment-methods/v1/authorizations/9007199254740992", by_id_must),
            ("/payment-methods/v1/authorizations/-1", by_id_must),
            ("/payment-methods/v1/authorizations/007", by_id_must),
            ("/payment-methods/v1/authorizations/rb-mine", by_id_must),
            ("/payment-methods/v1/authorizations/by-tracking-id/rb%20mine", tracking_must),
            ("/payment-methods/v1/authorizations/by-tracking-id/rb%2Fmine", tracking_must),
            (&format!("/payment-methods/v1/authorizations/by-tracking-id/{long}"), tracking_must),
            ("/payment-methods/v1/accounts/0/balance", account_must),
            ("/payment-methods/v1/accounts/9223372036854775808/balance", account_must),
            ("/payment-methods/v1/accounts/tok_501/balance", account_must),
        ];
        for (path, message) in malformed {
            let reply = get(&server, TENANT, path).await;
            assert_eq!(reply.status, 400, "{backend:?}: {path}: {}", reply.text);
            assert_eq!(reply.body, json!({ "code": "INVALID_PARAMETER", "message": message }), "{backend:?}: {path}");
        }
        // No token: 401 before anything else, malformed or not.
        for path in ["/payment-methods/v1/authorizations/1", "/payment-methods/v1/authorizations/0"] {
            let response = server.client.get(format!("{}{path}", server.base_url)).send().await.unwrap();
            let reply = Reply::read(response).await;
            assert_eq!((reply.status, reply.code()), (401, "UNAUTHORIZED"), "{backend:?}: {path}");
        }
        // Reads write nothing, refused or not.
        assert_eq!(stack.events().await.len(), events, "{backend:?}");
        assert_eq!(stack.account(TENANT, 1001).await, account, "{backend:?}");
        assert_eq!(by_tracking(&server, "rb-mine").await.body["decision"], auth.body, "{backend:?}");
    }
}

/// Replaces the body of the ledger item `sk` of tenant-a behind the port, or deletes the item.
async fn overwrite(stack: &Stack, sk: &str, body: Option<&str>) {
    use aws_sdk_dynamodb::types::AttributeValue;
    match stack.backend {
        Backend::Local => {
            let db = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
            let changed = match body {
                Some(body) => {
                    db.execute("UPDATE items SET body = ?2 WHERE pk = 'TENANT#tenant-a' AND sk = ?1", (sk, body))
                }
                None => db.execute("DELETE FROM items WHERE pk = 'TENANT#tenant-a' AND sk = ?1", (sk,)),
            };
            assert_eq!(changed.unwrap(), 1, "{sk}");
        }
        Backend::Aws => {
            let (client, _) = stack.dynamodb.as_ref().unwrap();
            let (ledger, _) = stack.ledger_tables.as_ref().unwrap();
            let key =
                [("pk", "TENANT#tenant-a"), ("sk", sk)].map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())));
            match body {
                Some(body) => {
                    let update = client
                        .update_item()
                        .table_name(ledger)
                        .set_key(Some(key.into()))
                        .update_expression("SET body = :body")
                        .expression_attribute_values(":body", AttributeValue::S(body.to_owned()));
                    update.send().await.unwrap();
                }
                None => {
                    client.delete_item().table_name(ledger).set_key(Some(key.into())).send().await.unwrap();
                }
            }
        }
    }
}

#[tokio::test]
async fn what_cannot_be_read_is_a_server_error_not_a_wrong_answer() {
    let internal = r#"{"code":"INTERNAL_ERROR","message":"Internal server error"}"#;
    for backend in Backend::ALL {
        let (stack, server) = world(backend).await;
        let denied = decided(
            &server,
            json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA",
            "account_id": 1002, "entry_mode": "01", "processing_code": "003000", "tracking_id": "rb-lost" }),
            "DENIED",
        )
        .await;
        let id = denied.body["authorization_id"].as_u64().unwrap();
        let held = decided(
            &server,
            json!({ "mti": "0100", "amount": 1, "currency": "BRL", "network": "VISA",
            "account_id": 1001, "entry_mode": "01", "processing_code": "003000", "tracking_id": "rb-garbled" }),
            "APPROVED",
        )
        .await;
        let garbled = held.body["authorization_id"].as_u64().unwrap();

        // An unreadable authorization or account.
        overwrite(&stack, &format!("AUTH#{garbled}"), Some("garbage")).await;
        let reply = by_id(&server, garbled).await;
        assert_eq!((reply.status, reply.text.as_str()), (500, internal), "{backend:?}");
        overwrite(&stack, "ACCOUNT#1003", Some("garbage")).await;
        let reply = balance(&server, TENANT, "1003").await;
        assert_eq!((reply.status, reply.text.as_str()), (500, internal), "{backend:?}");
        // A decision whose authorization is gone (every decision is committed with it): not a 404.
        overwrite(&stack, &format!("AUTH#{id}"), None).await;
        let reply = by_tracking(&server, "rb-lost").await;
        assert_eq!((reply.status, reply.text.as_str()), (500, internal), "{backend:?}");
        assert_eq!(by_id(&server, id).await.status, 404, "{backend:?}: by id it is simply not there");
    }
}
