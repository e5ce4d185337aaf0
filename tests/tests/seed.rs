//! `cofre-local seed`'s engine: fixtures load into either backend, credentials sealed and
//! fingerprinted as the API would, and seeding the same file twice changes nothing.

use cofre::merchants::MerchantId;
use cofre::tenant::TenantId;
use cofre_tests::{Backend, Stack, merchant_fixture};
use serde_json::json;

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
