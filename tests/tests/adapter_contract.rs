//! One contract, every adapter: the embedded store and DynamoDB (moto) behave the same as a
//! `CredentialStore`; the local keyring and KMS (moto) behave the same as a `KeyService`.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cofre::credentials::{
    CredentialSlot, CredentialType, ExpectedVersion, Provider, ProxyValue, SaveError, StoreError, StoredCredential,
};
use cofre::crypto::{EncryptionContext, EnvelopeError, KeyServiceError, SealedValue, open, seal_verified};
use cofre::tenant::TenantId;
use cofre_tests::{Backend, Stack};
use time::OffsetDateTime;

fn slot(tenant: &str) -> CredentialSlot {
    CredentialSlot {
        tenant: TenantId::parse(tenant).unwrap(),
        provider: Provider::Btg,
        credential_type: CredentialType::Pix,
    }
}

fn record(slot: CredentialSlot, version: u64, marker: u8) -> StoredCredential {
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    StoredCredential {
        slot,
        proxy: ProxyValue::from_stored(format!("cfp_proxy_{marker}")),
        provider_data: BTreeMap::from([("client_id".to_owned(), format!("client-{marker}"))]),
        sealed_key: SealedValue {
            key_id: "k".into(),
            wrapped_key: vec![marker; 40],
            nonce: vec![marker; 12],
            ciphertext: vec![marker; 30],
        },
        version,
        created_at: now,
        updated_at: now,
        tracking_id: format!("t-{marker}"),
    }
}

async fn store_contract(backend: Backend) {
    let stack = Stack::new(backend).await;
    let store = stack.store.as_ref();
    let a = slot("tenant-a");

    assert!(store.get(&a).await.unwrap().is_none(), "{backend:?}: empty slot");
    store.save(&record(a.clone(), 1, 1), ExpectedVersion::Absent).await.unwrap();
    assert_eq!(store.get(&a).await.unwrap(), Some(record(a.clone(), 1, 1)), "{backend:?}: reads back whole");

    // Creating over an existing slot conflicts and reports what is there, in the same round trip.
    match store.save(&record(a.clone(), 1, 2), ExpectedVersion::Absent).await {
        Err(SaveError::Conflict { current: Some(current) }) => assert_eq!(*current, record(a.clone(), 1, 1)),
        other => panic!("{backend:?}: expected a conflict, got {other:?}"),
    }
    store.save(&record(a.clone(), 2, 3), ExpectedVersion::Exactly(1)).await.unwrap();
    // A writer that read version 1 loses to the one that already wrote version 2.
    match store.save(&record(a.clone(), 2, 4), ExpectedVersion::Exactly(1)).await {
        Err(SaveError::Conflict { current: Some(current) }) => assert_eq!(current.version, 2),
        other => panic!("{backend:?}: expected a stale-version conflict, got {other:?}"),
    }
    assert_eq!(store.get(&a).await.unwrap(), Some(record(a.clone(), 2, 3)), "{backend:?}: loser changed nothing");

    // Expecting a version of a slot that does not exist conflicts with nothing to report.
    let b = slot("tenant-b");
    match store.save(&record(b.clone(), 6, 5), ExpectedVersion::Exactly(5)).await {
        Err(SaveError::Conflict { current: None }) => {}
        other => panic!("{backend:?}: expected an empty conflict, got {other:?}"),
    }
    // Tenants are separate slots.
    assert!(store.get(&b).await.unwrap().is_none(), "{backend:?}: tenant b untouched");
    store.save(&record(b.clone(), 1, 6), ExpectedVersion::Absent).await.unwrap();
    assert_eq!(store.get(&a).await.unwrap().unwrap().version, 2, "{backend:?}: tenant a untouched");
}

#[tokio::test]
async fn embedded_store_honours_the_store_contract() {
    store_contract(Backend::Local).await;
}

#[tokio::test]
async fn dynamodb_store_honours_the_store_contract() {
    store_contract(Backend::Aws).await;
}

/// Corrupts the stored item of `slot` behind the port.
async fn corrupt(stack: &Stack, slot: &CredentialSlot) {
    let (pk, sk) =
        (format!("TENANT#{}", slot.tenant), format!("CREDENTIAL#{}#{}", slot.provider, slot.credential_type));
    match stack.backend {
        Backend::Local => {
            let connection = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
            connection
                .execute("INSERT INTO items (pk, sk, version, body) VALUES (?1, ?2, 1, '{\"version\":1}')", (pk, sk))
                .unwrap();
        }
        Backend::Aws => {
            let (client, table) = stack.dynamodb.as_ref().unwrap();
            client
                .put_item()
                .table_name(table)
                .item("pk", AttributeValue::S(pk))
                .item("sk", AttributeValue::S(sk))
                .item("version", AttributeValue::N("1".into()))
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn unreadable_items_are_read_errors_on_every_store() {
    for backend in Backend::ALL {
        let stack = Stack::new(backend).await;
        let a = slot("tenant-a");
        corrupt(&stack, &a).await;
        assert!(matches!(stack.store.get(&a).await, Err(StoreError::Corrupt(_))), "{backend:?}");
        assert!(
            matches!(
                stack.store.save(&record(a.clone(), 1, 1), ExpectedVersion::Absent).await,
                Err(SaveError::Read(StoreError::Corrupt(_)))
            ),
            "{backend:?}"
        );
    }
}

async fn key_service_contract(backend: Backend) {
    let stack = Stack::new(backend).await;
    let keys = stack.keys.as_ref();
    let context = slot("tenant-a").encryption_context();

    let data_key = keys.generate_data_key(&context).await.unwrap();
    assert_eq!(data_key.plaintext.expose().len(), 32, "{backend:?}: AES-256 data key");
    assert!(
        !data_key.wrapped.windows(32).any(|w| w == data_key.plaintext.expose().as_slice()),
        "{backend:?}: wrapped hides it"
    );
    let unwrapped = keys.decrypt_data_key(&data_key.wrapped, &context).await.unwrap();
    assert_eq!(unwrapped.expose(), data_key.plaintext.expose(), "{backend:?}: unwrap gives it back");

    // The encryption context is enforced by the key service itself.
    for other in [slot("tenant-b").encryption_context(), EncryptionContext::new([("tenant_id", "tenant-a")])] {
        let refused = keys.decrypt_data_key(&data_key.wrapped, &other).await;
        assert!(refused.is_err(), "{backend:?}: a wrong context must not unwrap");
    }
    let mut tampered = data_key.wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x55;
    assert!(keys.decrypt_data_key(&tampered, &context).await.is_err(), "{backend:?}: tampered wrapped key");

    // Envelope: seal, verify, open; opening under another slot's context fails.
    let sealed = seal_verified(keys, &context, b"api-key-123").await.unwrap();
    assert_eq!(open(keys, &context, &sealed).await.unwrap().expose(), b"api-key-123");
    let err = open(keys, &slot("tenant-b").encryption_context(), &sealed).await.unwrap_err();
    assert!(
        matches!(
            err,
            EnvelopeError::KeyService(KeyServiceError::Refused(_))
                | EnvelopeError::KeyService(KeyServiceError::Unavailable(_))
        ),
        "{backend:?}: {err:?}"
    );
}

#[tokio::test]
async fn local_keyring_honours_the_key_service_contract() {
    key_service_contract(Backend::Local).await;
}

#[tokio::test]
async fn kms_honours_the_key_service_contract() {
    key_service_contract(Backend::Aws).await;
}

#[tokio::test]
async fn kms_refuses_a_wrong_context_as_a_refusal_not_an_outage() {
    let stack = Stack::new(Backend::Aws).await;
    let context = slot("tenant-a").encryption_context();
    let data_key = stack.keys.generate_data_key(&context).await.unwrap();
    let err = stack.keys.decrypt_data_key(&data_key.wrapped, &slot("tenant-b").encryption_context()).await.unwrap_err();
    assert!(matches!(err, KeyServiceError::Refused(_)), "{err:?}");
}

#[tokio::test]
async fn the_keyring_survives_a_reopen_and_stays_private() {
    let dir = tempfile::tempdir().unwrap();
    let context = slot("tenant-a").encryption_context();
    let first = cofre::adapters::LocalKeyring::open_or_create(dir.path()).unwrap();
    let sealed = seal_verified(&first, &context, b"persisted").await.unwrap();
    drop(first);
    let again = cofre::adapters::LocalKeyring::open_or_create(dir.path()).unwrap();
    assert_eq!(open(&again, &context, &sealed).await.unwrap().expose(), b"persisted");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keyring.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(dir.path().join("keyring.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = cofre::adapters::LocalKeyring::open_or_create(dir.path()).unwrap_err();
        assert!(matches!(refused, cofre::adapters::KeyringError::Exposed(_)), "{refused}");
    }
}
