//! A write whose answer is lost: the SDK retries it, and the retry's condition fails against the
//! item the first attempt wrote. The vault must recognise its own write, not count it twice.

use std::sync::Arc;

use async_trait::async_trait;
use cofre::adapters::EmbeddedStore;
use cofre::credentials::{
    CredentialSlot, CredentialStore, CredentialType, ExpectedVersion, Provider, SaveError, StoreError, StoredCredential,
};
use cofre_tests::wiremock::matchers::method;
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, TestServer, credential_body, partners_at};

/// Applies every write to the real store, then answers as a retried write would: a conflict that
/// returns the item as it now is.
struct LostResponses(EmbeddedStore);

#[async_trait]
impl CredentialStore for LostResponses {
    async fn get(&self, slot: &CredentialSlot) -> Result<Option<StoredCredential>, StoreError> {
        self.0.get(slot).await
    }

    async fn save(&self, record: &StoredCredential, expected: ExpectedVersion) -> Result<(), SaveError> {
        self.0.save(record, expected).await?;
        let current = self.0.get(&record.slot).await.map_err(SaveError::Read)?;
        Err(SaveError::Conflict { current: current.map(Box::new) })
    }
}

#[tokio::test]
async fn a_retried_write_is_recognised_as_the_requests_own() {
    let partner = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&partner).await;
    let stack = Stack::new(Backend::Local).await;
    let embedded = stack.embedded.clone().unwrap();
    let settings = stack.partner_settings(Some(&partners_at(&partner.uri(), 2_000))).await;
    let vault = cofre::credentials::CredentialVault::new(
        Arc::new(LostResponses(embedded)),
        Arc::clone(&stack.keys),
        Arc::new(cofre::adapters::HttpPartnerClient::new(std::time::Duration::from_secs(1)).unwrap()),
        settings,
        Arc::new(cofre::clock::SystemClock),
        Arc::new(cofre::ids::RandomIds::default()),
    );
    let server = TestServer::start(vault).await;

    let created = server.post_credential("tenant-a", &credential_body("first", "BTG", "PIX"), "t1").await;
    assert_eq!(created.status, 201, "still a create: {created:?}");
    assert_eq!(stack.stored_key("tenant-a", Provider::Btg, CredentialType::Pix).await, Some(("first".into(), 1)));

    let replaced = server.post_credential("tenant-a", &credential_body("second", "BTG", "PIX"), "t2").await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert_eq!(replaced.body["proxy"], created.body["proxy"]);
    assert_eq!(
        stack.stored_key("tenant-a", Provider::Btg, CredentialType::Pix).await,
        Some(("second".into(), 2)),
        "written once"
    );
}
