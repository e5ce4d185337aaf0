//! An amount's precision is its currency's ISO 4217 exponent (KWD 3, JPY 0, BRL 2) in parsing, in
//! the seeded limit, in the ledger and in every answer; a request in another currency never moves a
//! ledger, whatever the overrides, so minor units of one currency are never read as another's.

use cofre_tests::{Backend, Stack, TestServer, authorization_body};
use serde_json::{Value, json};

const TENANT: &str = "tenant-a";
const OVERRIDE: Option<&str> = Some("authorizations:override");

fn account(id: i64, currency: &str, limit: &str) -> Value {
    json!({ "tenant_id": TENANT, "account_id": id, "program_id": 1, "document_number": format!("{id}0000000"),
        "status": "NORMAL", "currency": currency, "limit": limit })
}

fn request(account_id: i64, currency: &str, amount: &str) -> Value {
    let mut body = authorization_body(account_id, "1");
    body["currency"] = json!(currency);
    body["amount"] = serde_json::from_str(amount).unwrap();
    body
}

#[tokio::test]
async fn amounts_follow_the_currency_s_exponent_end_to_end() {
    for backend in Backend::ALL {
        let stack = Stack::new(backend).await;
        let accounts = [account(3001, "KWD", "10.000"), account(3002, "JPY", "50000"), account(3003, "BRL", "100.00")];
        assert_eq!(stack.seed_accounts(&accounts).await, (3, 0));
        assert_eq!(stack.account(TENANT, 3001).await.available, 10_000, "10.000 KWD is 10,000 fils");
        assert_eq!(stack.account(TENANT, 3002).await.available, 50_000, "JPY has no minor unit");
        let server = TestServer::start_authorizations(stack.authorizer()).await;

        let kwd = server.authorize(TENANT, None, &request(3001, "KWD", "1.234")).await;
        assert_eq!((kwd.status, kwd.body["status"].as_str()), (200, Some("APPROVED")), "{}", kwd.text);
        assert!(kwd.text.contains(r#""amount":1.234,"#), "printed with three digits: {}", kwd.text);
        assert_eq!(stack.account(TENANT, 3001).await.available, 8_766, "{backend:?}");

        let jpy = server.authorize(TENANT, None, &request(3002, "392", "1500")).await;
        assert_eq!((jpy.status, jpy.body["status"].as_str()), (200, Some("APPROVED")), "{}", jpy.text);
        assert!(jpy.text.contains(r#""amount":1500,"#), "printed without a decimal point: {}", jpy.text);
        assert_eq!(stack.account(TENANT, 3002).await.available, 48_500, "{backend:?}");

        // Beyond the exponent: a 400 naming the currency's precision, and nothing moves.
        for (body, message) in [
            (request(3001, "KWD", "1.2345"), "amount has more decimal places than KWD allows (3)"),
            (request(3002, "JPY", "1.5"), "amount has more decimal places than JPY allows (0)"),
        ] {
            let reply = server.authorize(TENANT, None, &body).await;
            assert_eq!((reply.status, reply.code()), (400, "INVALID_FIELD"), "{}", reply.text);
            assert_eq!(reply.body["message"], message);
        }
        assert_eq!(stack.account(TENANT, 3001).await.available, 8_766);
        assert_eq!(stack.account(TENANT, 3002).await.available, 48_500);

        // 1.234 KWD against a BRL ledger would be 123.4 BRL if minor units were reinterpreted; it is a
        // denial instead, even for a privileged caller asking to skip or force every rule it can.
        for rule in [json!({ "disable": true }), json!({ "force": true })] {
            let mut skipped = request(3003, "KWD", "1.234");
            skipped["validation_rules"] = json!({ "CURRENCY": rule });
            let refused = server.authorize(TENANT, OVERRIDE, &skipped).await;
            assert_eq!((refused.status, refused.code()), (400, "INVALID_FIELD"), "{}", refused.text);
            assert_eq!(
                refused.body["message"],
                "validation_rules.CURRENCY cannot be disabled or forced: an amount in another currency cannot touch \
                 the ledger"
            );
        }
        let mut mismatched = request(3003, "KWD", "1.234");
        mismatched["validation_rules"] = json!({ "LEDGER": { "force": true }, "ACCOUNT_STATUS": { "disable": true } });
        let reply = server.authorize(TENANT, OVERRIDE, &mismatched).await;
        assert_eq!((reply.body["status"].as_str(), reply.body["denial_code"].as_str()), (Some("DENIED"), Some("CMM")));
        assert_eq!(stack.account(TENANT, 3003).await.available, 10_000, "{backend:?}: the BRL ledger is untouched");
        let mut jpy_on_kwd = request(3001, "JPY", "1000");
        jpy_on_kwd["validation_rules"] = json!({ "LEDGER": { "force": true } });
        let reply = server.authorize(TENANT, OVERRIDE, &jpy_on_kwd).await;
        assert_eq!(reply.body["denial_code"], "CMM", "{}", reply.text);
        assert_eq!(stack.account(TENANT, 3001).await.available, 8_766);
    }
}
