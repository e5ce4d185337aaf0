//! `cofre-local seed`'s engine: fixtures load into either backend, credentials sealed and
//! fingerprinted as the API would, and seeding the same file twice changes nothing.

use cofre_domain::merchants::MerchantId;
use cofre_domain::tenant::TenantId;
use cofre_tests::{Backend, Stack, merchant_fixture};
use serde_json::{Value, json};

#[tokio::test]
async fn seeding_twice_changes_nothing_on_either_backend() {
    for backend in Backend::ALL {
        let stack = Stack::new(backend).await;
        let first = stack.seeder().seed(&merchant_fixture()).await.unwrap();
        assert_eq!((first.inserted, first.unchanged), (2, 0), "{backend:?}");
        let (tenant, id) = (TenantId::parse("tenant-a").unwrap(), MerchantId::parse("mid_test_a").unwrap());
        let stored = stack.merchants.merchant(&tenant, &id).await.unwrap().unwrap();

        let again = stack.seeder().seed(&merchant_fixture()).await.unwrap();
        assert_eq!((again.inserted, again.unchanged), (0, 2), "{backend:?}");
        assert_eq!(
            stack.merchants.merchant(&tenant, &id).await.unwrap().unwrap(),
            stored,
            "{backend:?}: byte for byte the same"
        );

        assert_eq!(stored.tin_last4.as_deref(), Some("6789"), "only the last four of the TIN are kept");
        assert!(!stored.profile.contains_key("tin") && !stored.profile.contains_key("tenant_id"));
        assert_eq!(stored.connections.len(), 11, "in order");
        assert_eq!(stored.connections[0].id.as_str(), "midCon_affinipay");
        let (opened, version, status) = stack.stored_connection("tenant-a", "mid_test_a", "midCon_stripe").await;
        assert_eq!((opened, version, status.as_str()), (Some(json!({ "secret": "sk_old" })), 1, "Active"));
        let (opened, version, _) = stack.stored_connection("tenant-a", "mid_test_a", "midCon_affinipay").await;
        assert_eq!((opened, version), (None, 0));
    }
}

#[tokio::test]
async fn malformed_fixtures_are_refused_with_their_position_and_write_nothing() {
    let stack = Stack::new(Backend::Local).await;
    let cases = [
        (json!({ "id": "mid_x" }), "merchants[0]: `tenant_id` must be a string"),
        (
            json!({ "tenant_id": "t#1", "id": "mid_x" }),
            "merchants[0]: tenant_id must be 1 to 64 characters of A-Z a-z 0-9 . _ : -",
        ),
        (json!({ "tenant_id": "t", "id": "mid/x" }), "merchants[0]: `id` is not a valid id"),
        (json!({ "tenant_id": "t", "id": "mid_x", "connections": {} }), "merchants[0]: `connections` must be an array"),
        (
            json!({ "tenant_id": "t", "id": "mid_x", "connections": [{ "id": "c1", "processor": "Paypal", "status": "Active" }] }),
            "merchants[0]: connection c1: unknown processor",
        ),
        (
            json!({ "tenant_id": "t", "id": "mid_x", "connections": [{ "id": "c1", "processor": "NMI", "status": "Live" }] }),
            "merchants[0]: connection c1: unknown status",
        ),
        (
            json!({ "tenant_id": "t", "id": "mid_x", "connections": [{ "id": "c1", "processor": "NMI", "status": "Active", "credentials": { "secret": 5 } }] }),
            "merchants[0]: connection c1: credentials.secret must be a string",
        ),
        (
            json!({ "tenant_id": "t", "id": "mid_x", "createdOn": "yesterday" }),
            "merchants[0]: `createdOn` must be RFC 3339",
        ),
    ];
    for (record, message) in cases {
        let err = stack.seeder().seed(&[record]).await.unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let merchant =
        stack.merchants.merchant(&TenantId::parse("t").unwrap(), &MerchantId::parse("mid_x").unwrap()).await.unwrap();
    assert!(merchant.is_none());
}

#[tokio::test]
async fn account_fixtures_load_once_and_refuse_bad_records_without_showing_a_pan() {
    for backend in Backend::ALL {
        let stack = Stack::new(backend).await;
        assert_eq!(stack.seed_accounts(&cofre_tests::account_fixture()).await, (6, 0));
        let before = stack.account("tenant-a", 1001).await;
        assert_eq!(stack.seed_accounts(&cofre_tests::account_fixture()).await, (0, 6), "{backend:?}");
        assert_eq!(stack.account("tenant-a", 1001).await, before, "{backend:?}: unchanged");
        assert_eq!(stack.account("tenant-a", 1002).await.available, 50_000, "available defaults to the limit");
    }
    let stack = Stack::new(Backend::Local).await;
    let seeder = stack.account_seeder();
    let base = json!({ "tenant_id": "t", "account_id": 1, "program_id": 1, "document_number": "d", "status": "NORMAL", "currency": "BRL", "limit": "10.00" });
    let with = |extra: serde_json::Value| {
        let mut record = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            record[k] = v.clone();
        }
        record
    };
    let card = |pan: &str| json!([{ "id": 1, "pan": pan, "stored_id": "s", "status": "NORMAL", "expiry": "2030-01", "mode": "CREDIT" }]);
    for (record, message) in [
        (with(json!({ "currency": "XXX" })), "accounts[0]: `currency` must be an ISO 4217 code"),
        (with(json!({ "limit": "10.001" })), "accounts[0]: `limit` has more decimal places than BRL allows (2)"),
        (with(json!({ "available": "abc" })), "accounts[0]: `available` must be a decimal number"),
        (with(json!({ "status": "FROZEN" })), "accounts[0]: `status` must be NORMAL, BLOCKED or CANCELLED"),
        (with(json!({ "account_id": -1 })), "accounts[0]: `account_id` must be a positive integer"),
        (with(json!({ "cards": card("4111-1111-1111-1111") })), "accounts[0]: card 1: `pan` must be 12 to 19 digits"),
        (
            with(
                json!({ "cards": [{ "id": 1, "pan": "4111111111111111", "stored_id": "s", "status": "NORMAL", "expiry": "2030-13", "mode": "CREDIT" }] }),
            ),
            "accounts[0]: card 1: `expiry` must be YYYY-MM",
        ),
    ] {
        let err = seeder.seed(&[record]).await.unwrap_err().to_string();
        assert_eq!(err, message);
        assert!(!err.contains("4111"), "a PAN never appears in an error");
    }
}

#[tokio::test]
async fn force_original_authorization_is_stored_with_the_account_and_off_unless_set() {
    use cofre_domain::authorizations::{AccountId, AccountSettings, LedgerItem, LedgerKey};
    let record = |id: i64, force: Value| {
        let mut record = json!({ "tenant_id": "t", "account_id": id, "program_id": 1, "document_number": format!("d{id}"),
            "status": "NORMAL", "currency": "BRL", "limit": "10.00" });
        if !force.is_null() {
            record["force_original_authorization"] = force;
        }
        record
    };
    for backend in Backend::ALL {
        let stack = Stack::new(backend).await;
        let records = [record(1, json!(true)), record(2, json!(false)), record(3, Value::Null)];
        assert_eq!(stack.seed_accounts(&records).await, (3, 0), "{backend:?}");
        let id = |id| AccountId::new(id).unwrap();
        let keys = [1, 2, 3, 9].map(|n| LedgerKey::AccountSettings(id(n)));
        let mut keys = keys.to_vec();
        keys.insert(1, LedgerKey::Account(id(1)));
        let items = stack.ledger.get(&TenantId::parse("t").unwrap(), &keys).await.unwrap();
        let settings: Vec<Option<bool>> = items
            .iter()
            .map(|item| match item {
                Some(Ok(LedgerItem::AccountSettings(s))) => Some(s.force_original_authorization),
                Some(Ok(LedgerItem::Account(a))) => Some(a.id.get() == 1),
                None => None,
                other => panic!("{backend:?}: {other:?}"),
            })
            .collect();
        assert_eq!(settings, [Some(true), Some(true), Some(false), Some(false), None], "{backend:?}");
        assert!(!AccountSettings::default().force_original_authorization);
    }
    // Off, the setting is not stored at all: the body an account always had (and old items read as off).
    let stack = Stack::new(Backend::Local).await;
    stack.seed_accounts(&[record(1, json!(true)), record(2, json!(false))]).await;
    let db = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
    let body = |sk: &str| -> String {
        db.query_row("SELECT body FROM items WHERE pk = 'TENANT#t' AND sk = ?1", [sk], |row| row.get(0)).unwrap()
    };
    assert!(body("ACCOUNT#1").contains(r#""force_original_authorization":true"#));
    assert!(!body("ACCOUNT#2").contains("force_original_authorization"));
    let seeder = stack.account_seeder();
    let err = seeder.seed(&[record(4, json!("yes"))]).await.unwrap_err();
    assert_eq!(err.to_string(), "accounts[0]: `force_original_authorization` must be true or false");
}
