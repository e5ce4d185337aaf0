//! A write whose answer is lost: the SDK sends it again, and the retry meets the item the first
//! attempt wrote. The store must recognise the write as already applied, not count it twice.

use std::sync::Arc;

use async_trait::async_trait;
use cofre_domain::credentials::{
    BeginUseError, CredentialSlot, CredentialStore, CredentialType, CredentialUse, CredentialWrite, Provider,
    ProxyValue, StoreError, StoredCredential, UseId,
};
use cofre_domain::tenant::TenantId;
use cofre_local::EmbeddedStore;
use cofre_tests::wiremock::matchers::method;
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, TestServer, credential_body, partners_at};

/// Applies every write to the real store, loses the answer, and sends the write again: the answer is
/// the retry's.
struct LostResponses(EmbeddedStore);

#[async_trait]
impl CredentialStore for LostResponses {
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError> {
        self.0.get(slot).await
    }

    async fn put(&self, write: &CredentialWrite) -> Result<StoredCredential, StoreError> {
        self.0.put(write).await?;
        self.0.put(write).await
    }

    async fn find_by_proxy(&self, t: &TenantId, p: &ProxyValue) -> Result<Option<StoredCredential>, StoreError> {
        self.0.find_by_proxy(t, p).await
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredCredential>, StoreError> {
        self.0.list(tenant).await
    }

    async fn revoke(&self, tenant: &TenantId, proxy: &ProxyValue) -> Result<bool, StoreError> {
        self.0.revoke(tenant, proxy).await
    }

    async fn begin_use(&self, record: &CredentialUse) -> Result<(), BeginUseError> {
        self.0.begin_use(record).await
    }

    async fn finish_use(&self, record: &CredentialUse) -> Result<(), StoreError> {
        self.0.finish_use(record).await
    }

    async fn uses(
        &self,
        t: &TenantId,
        p: &ProxyValue,
        before: Option<&UseId>,
        limit: usize,
    ) -> Result<Vec<CredentialUse>, StoreError> {
        self.0.uses(t, p, before, limit).await
    }
}

#[tokio::test]
async fn a_retried_write_is_recognised_as_the_requests_own() {
    let partner = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&partner).await;
    let stack = Stack::new(Backend::Local).await;
    let embedded = stack.embedded.clone().unwrap();
    let settings = stack.partner_settings(Some(&partners_at(&partner.uri(), 2_000))).await;
    let vault = cofre_domain::credentials::CredentialVault::new(
        Arc::new(LostResponses(embedded)),
        Arc::clone(&stack.keys),
        Arc::new(cofre_aws::HttpPartnerClient::new(std::time::Duration::from_secs(1)).unwrap()),
        settings,
        Arc::new(cofre_domain::clock::SystemClock),
        Arc::new(cofre_domain::ids::RandomIds::default()),
    );
    let server = TestServer::start(vault).await;

    let created = server.post_credential("tenant-a", &credential_body("first", "BTG", "PIX"), "t1").await;
    assert_eq!(created.status, 201, "still a create: {created:?}");
    assert_eq!(stack.stored_key("tenant-a", Provider::Btg, CredentialType::Pix).await, Some(("first".into(), 1)));

    let replaced = server.post_credential("tenant-a", &credential_body("second", "BTG", "PIX"), "t2").await;
    assert_eq!((replaced.status, &replaced.body["replaced"]), (201, &serde_json::json!(true)), "{replaced:?}");
    assert_eq!(replaced.body["proxy"], created.body["proxy"]);
    assert_eq!(
        stack.stored_key("tenant-a", Provider::Btg, CredentialType::Pix).await,
        Some(("second".into(), 2)),
        "written once"
    );
}

/// Applies every connection write, then answers as a retried `UpdateItem` would: a conflict that
/// returns the merchant as it now is (`ALL_OLD`).
struct LostMerchantResponses(EmbeddedStore);

#[async_trait]
impl cofre_domain::merchants::MerchantStore for LostMerchantResponses {
    async fn merchant(
        &self,
        tenant: &cofre_domain::tenant::TenantId,
        id: &cofre_domain::merchants::MerchantId,
    ) -> Result<Option<cofre_domain::merchants::Merchant>, StoreError> {
        self.0.merchant(tenant, id).await
    }

    async fn write_connection(
        &self,
        tenant: &cofre_domain::tenant::TenantId,
        id: &cofre_domain::merchants::MerchantId,
        write: &cofre_domain::merchants::ConnectionWrite,
    ) -> Result<cofre_domain::merchants::Merchant, cofre_domain::merchants::ConnectionWriteError> {
        let written = self.0.write_connection(tenant, id, write).await?;
        Err(cofre_domain::merchants::ConnectionWriteError::Conflict { current: Some(Box::new(written)) })
    }

    async fn guard_proof(
        &self,
        tenant: &cofre_domain::tenant::TenantId,
        id: &cofre_domain::merchants::MerchantId,
        connection: &cofre_domain::merchants::ConnectionId,
        seen: u32,
        next: &cofre_domain::merchants::ProofGuard,
    ) -> Result<bool, StoreError> {
        self.0.guard_proof(tenant, id, connection, seen, next).await
    }

    async fn insert_merchant(&self, merchant: &cofre_domain::merchants::Merchant) -> Result<bool, StoreError> {
        self.0.insert_merchant(merchant).await
    }

    async fn merchants_page(
        &self,
        after: Option<&cofre_domain::store::ScanCursor>,
    ) -> Result<cofre_domain::store::Page<cofre_domain::merchants::Merchant>, StoreError> {
        self.0.merchants_page(after).await
    }

    async fn rekey_fingerprint(
        &self,
        tenant: &cofre_domain::tenant::TenantId,
        id: &cofre_domain::merchants::MerchantId,
        connection: &cofre_domain::merchants::ConnectionId,
        expected: &cofre_domain::crypto::KeyedHash,
        new: &cofre_domain::crypto::KeyedHash,
    ) -> Result<bool, StoreError> {
        self.0.rekey_fingerprint(tenant, id, connection, expected, new).await
    }
}

#[tokio::test]
async fn a_retried_connection_write_is_recognised_as_the_requests_own() {
    let processor = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    let stack = Stack::new(Backend::Local).await;
    stack.seeder().seed(&cofre_tests::merchant_fixture()).await.unwrap();
    let settings = stack.partner_settings(Some(&cofre_tests::processors_at(&processor.uri(), 2_000))).await;
    let connections = cofre_domain::merchants::MerchantConnections::new(
        Arc::new(LostMerchantResponses(stack.embedded.clone().unwrap())),
        Arc::clone(&stack.keys),
        Arc::clone(&stack.hmac),
        Arc::new(cofre_aws::HttpProcessorClient::new(std::time::Duration::from_secs(1)).unwrap()),
        settings,
        Arc::new(cofre_domain::clock::SystemClock),
    );
    let server = TestServer::start_merchants(connections).await;
    let rotate = r#"{"secret":"sk_new","existingCredentials":{"secret":"sk_old"}}"#;
    let reply = server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", rotate).await;
    assert_eq!(reply.status, 200, "not a false 409: {reply:?}");
    let (stored, version, _) = stack.stored_connection("tenant-a", "mid_test_a", "midCon_stripe").await;
    assert_eq!((stored, version), (Some(serde_json::json!({ "secret": "sk_new" })), 2), "written once");
}
