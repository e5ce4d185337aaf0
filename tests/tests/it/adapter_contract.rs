//! One contract, every adapter: the embedded store and DynamoDB (moto) behave the same as a
//! `CredentialStore`; the local keyring and KMS (moto) behave the same as a `KeyService`.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cofre_domain::credentials::{
    CredentialSlot, CredentialType, CredentialWrite, Provider, ProxyValue, StoreError, StoredCredential,
};
use cofre_domain::crypto::{EncryptionContext, EnvelopeError, KeyServiceError, SealedValue, open, seal_verified};
use cofre_domain::tenant::TenantId;
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
        last_used_at: None,
    }
}

/// The create-or-replace that would leave `record` in its slot (its proxy and `created_at` only if it
/// creates the slot).
fn write_of(record: &StoredCredential) -> CredentialWrite {
    CredentialWrite {
        slot: record.slot.clone(),
        proxy: record.proxy.clone(),
        provider_data: record.provider_data.clone(),
        sealed_key: record.sealed_key.clone(),
        at: record.updated_at,
        tracking_id: record.tracking_id.clone(),
    }
}

async fn store_contract(backend: Backend) {
    let stack = Stack::new(backend).await;
    let store = stack.store.as_ref();
    let a = slot("tenant-a");

    assert!(store.get(&a).await.unwrap().is_none(), "{backend:?}: empty slot");
    let created = store.put(&write_of(&record(a.clone(), 1, 1))).await.unwrap();
    assert_eq!(created, record(a.clone(), 1, 1), "{backend:?}: a create is version 1, as written");
    assert_eq!(store.get(&a).await.unwrap(), Some(created.clone()), "{backend:?}: reads back whole");

    // A replace: the new key, data and tracking_id at the next version, under the slot's proxy and
    // creation time, whatever proxy the write brought.
    let later = created.updated_at + time::Duration::seconds(60);
    let replaced =
        store.put(&write_of(&StoredCredential { updated_at: later, ..record(a.clone(), 9, 2) })).await.unwrap();
    let expected = StoredCredential { updated_at: later, proxy: created.proxy.clone(), ..record(a.clone(), 2, 2) };
    assert_eq!(replaced, expected, "{backend:?}: the slot as the replace left it");
    assert_eq!(store.get(&a).await.unwrap(), Some(expected.clone()), "{backend:?}");

    // The same write again (the SDK retrying a write whose answer was lost): stored once.
    let retried = write_of(&StoredCredential { updated_at: later, ..record(a.clone(), 9, 2) });
    assert_eq!(store.put(&retried).await.unwrap(), expected, "{backend:?}: a retry is recognised");
    assert_eq!(store.get(&a).await.unwrap(), Some(expected.clone()), "{backend:?}: not written twice");

    // Tenants are separate slots.
    let b = slot("tenant-b");
    assert!(store.get(&b).await.unwrap().is_none(), "{backend:?}: tenant b untouched");
    assert_eq!(store.put(&write_of(&record(b.clone(), 1, 6))).await.unwrap().version, 1, "{backend:?}");
    assert_eq!(store.get(&a).await.unwrap(), Some(expected), "{backend:?}: tenant a untouched");
}

/// 100 concurrent replaces of one slot through the port: a replace is last-writer-wins, so every
/// one succeeds, each at its own version (2 to 101), and the slot holds the one that took 101, whole.
async fn concurrent_puts(backend: Backend) {
    const REPLACES: u8 = 100;
    let stack = Stack::new(backend).await;
    let a = slot("tenant-a");
    let created = stack.store.put(&write_of(&record(a.clone(), 1, 1))).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for marker in 10..10 + REPLACES {
        let (store, write) = (std::sync::Arc::clone(&stack.store), write_of(&record(a.clone(), 0, marker)));
        tasks.spawn(async move { (write.clone(), store.put(&write).await) });
    }
    let mut written = Vec::new();
    for (write, result) in tasks.join_all().await {
        let stored = result.unwrap_or_else(|e| panic!("{backend:?}: every replace succeeds: {e}"));
        assert!(write.is_stored_in(&stored), "{backend:?}: each answer is its own write");
        assert_eq!(stored.proxy, created.proxy, "{backend:?}: the slot's proxy");
        written.push(stored);
    }
    let mut versions: Vec<u64> = written.iter().map(|c| c.version).collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=101).collect::<Vec<u64>>(), "{backend:?}: 100 distinct versions, none skipped");
    let last = written.iter().find(|c| c.version == 101).unwrap();
    assert_eq!(stack.store.get(&a).await.unwrap().as_ref(), Some(last), "{backend:?}: the last write, whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_replaces_through_the_port_on_every_store() {
    for backend in Backend::ALL {
        concurrent_puts(backend).await;
    }
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
        let (tenant, proxy) = (&a.tenant, ProxyValue::from_stored("cfp_proxy_1".into()));
        assert!(matches!(stack.store.list(tenant).await, Err(StoreError::Corrupt(_))), "{backend:?}: list");
        assert!(
            matches!(stack.store.find_by_proxy(tenant, &proxy).await, Err(StoreError::Corrupt(_))),
            "{backend:?}: find_by_proxy"
        );
        assert!(matches!(stack.store.revoke(tenant, &proxy).await, Err(StoreError::Corrupt(_))), "{backend:?}: revoke");
        let put = stack.store.put(&write_of(&record(a.clone(), 1, 1))).await;
        assert!(matches!(put, Err(StoreError::Corrupt(_))), "{backend:?}: {put:?}");
        assert!(matches!(stack.store.get(&a).await, Err(StoreError::Corrupt(_))), "{backend:?}: left as it was");
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
    let first = cofre_local::LocalKeyring::open_or_create(dir.path()).unwrap();
    let sealed = seal_verified(&first, &context, b"persisted").await.unwrap();
    drop(first);
    let again = cofre_local::LocalKeyring::open_or_create(dir.path()).unwrap();
    assert_eq!(open(&again, &context, &sealed).await.unwrap().expose(), b"persisted");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keyring.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(dir.path().join("keyring.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = cofre_local::LocalKeyring::open_or_create(dir.path()).unwrap_err();
        assert!(matches!(refused, cofre_local::KeyringError::Exposed(_)), "{refused}");
    }
}

#[tokio::test]
async fn a_keyring_file_made_before_keyrings_had_ids_reads_as_the_legacy_key_and_rotates() {
    use base64::Engine;
    use cofre_domain::crypto::{HmacKeyId, HmacKeySource, HmacKeyring, HmacKeyringStore};
    use cofre_domain::secret::SecretBytes;
    let dir = tempfile::tempdir().unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    // As the keyring was written before: one plain `hmac_key`.
    let old = serde_json::json!({ "master_key_id": "local-old", "master_key": b64(&[1; 32]),
        "token_signing_key": b64(&[2; 32]), "hmac_key": b64(&[3; 32]) });
    let path = dir.path().join("keyring.json");
    std::fs::write(&path, old.to_string()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let keyring = cofre_local::LocalKeyring::open_or_create(dir.path()).unwrap();
    let read = keyring.hmac_keyring().await.unwrap();
    let legacy = HmacKeyring::legacy(SecretBytes::new(vec![3; 32])).unwrap();
    assert_eq!(read.current(), &HmacKeyId::legacy());
    let probe = legacy.hash("d", b"m");
    assert!(read.hash("d", b"m").matches(&probe), "the same key, under the legacy id");
    assert!(!probe.encode().contains('$'), "hashes under it stored as before");

    let k1 = HmacKeyId::parse("k1").unwrap();
    let rotated = read.with_key(k1.clone(), SecretBytes::new(vec![4; 32])).unwrap().with_current(&k1).unwrap();
    keyring.save(&rotated).await.unwrap();
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(file.get("hmac_key").is_none(), "{file}");
    assert_eq!(file["hmac_keyring"]["current"], "k1");
    assert_eq!(file["hmac_keyring"]["keys"]["legacy"], b64(&[3; 32]), "the old key kept, as `legacy`");
    assert_eq!(file["master_key_id"], "local-old", "the file's other keys as they were");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "still private");
    }
    let reopened = cofre_local::LocalKeyring::open_or_create(dir.path()).unwrap().hmac_keyring().await.unwrap();
    assert_eq!(reopened.current(), &k1);
    assert!(reopened.verify(&probe, "d", b"m").unwrap(), "hashes under the legacy key still compare");
    // Both forms at once, or neither, is not a keyring.
    let mut both = file.clone();
    both["hmac_key"] = serde_json::json!(b64(&[3; 32]));
    std::fs::write(&path, both.to_string()).unwrap();
    let refused = cofre_local::LocalKeyring::open_or_create(dir.path()).unwrap_err();
    assert!(matches!(refused, cofre_local::KeyringError::Invalid(_)), "{refused}");
}

mod merchant_store {
    use cofre_domain::crypto::{HmacKeyId, HmacKeySource, HmacKeyring, KeyedHash, SealedValue};
    use cofre_domain::merchants::{
        Connection, ConnectionId, ConnectionStatus, ConnectionWrite, ConnectionWriteError, CredentialField, Merchant,
        MerchantId, Processor, ProofGuard, SealedConnectionCredentials,
    };
    use cofre_domain::tenant::TenantId;
    use cofre_tests::{Backend, Stack};
    use time::OffsetDateTime;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
    }

    fn sealed(marker: u8) -> SealedConnectionCredentials {
        SealedConnectionCredentials {
            sealed: SealedValue {
                key_id: "k".into(),
                wrapped_key: vec![marker; 40],
                nonce: vec![marker; 12],
                ciphertext: vec![marker; 20],
            },
            fingerprint: KeyedHash::from_bytes(&[marker; 32]).unwrap(),
            fields: vec![CredentialField::Secret],
        }
    }

    fn merchant(tenant: &str) -> Merchant {
        let profile =
            serde_json::json!({ "name": "Bobby's", "address": { "city": "San Francisco" }, "annualSaleVolume": 20000 });
        Merchant {
            tenant: TenantId::parse(tenant).unwrap(),
            id: MerchantId::parse("mid_test_1").unwrap(),
            profile: profile.as_object().unwrap().clone(),
            tin_last4: Some("6789".into()),
            created_on: at(0),
            modified_on: at(1),
            created_by: "API Key: Default".into(),
            modified_by: "API Key: Default".into(),
            connections: vec![
                Connection {
                    id: ConnectionId::parse("midCon_b").unwrap(),
                    processor: Processor::AffiniPay,
                    status: ConnectionStatus::Unconfigured,
                    version: 0,
                    credentials: None,
                    guard: ProofGuard::default(),
                },
                Connection {
                    id: ConnectionId::parse("midCon_a").unwrap(),
                    processor: Processor::Stripe,
                    status: ConnectionStatus::Active,
                    version: 1,
                    credentials: Some(sealed(1)),
                    guard: ProofGuard::default(),
                },
            ],
        }
    }

    fn write(connection: &str, version: u64, fingerprint: Option<u8>, marker: u8) -> ConnectionWrite {
        ConnectionWrite {
            connection_id: ConnectionId::parse(connection).unwrap(),
            expected_version: version,
            expected_fingerprint: fingerprint.map(|f| KeyedHash::from_bytes(&[f; 32]).unwrap()),
            credentials: sealed(marker),
            status: ConnectionStatus::Active,
            modified_on: at(100),
            modified_by: "API Key: Rotator".into(),
        }
    }

    async fn contract(backend: Backend) {
        let stack = Stack::new(backend).await;
        let store = stack.merchants.as_ref();
        let original = merchant("tenant-a");
        let (tenant, id) = (original.tenant.clone(), original.id.clone());

        assert_eq!(store.merchant(&tenant, &id).await.unwrap(), None, "{backend:?}");
        assert!(store.insert_merchant(&original).await.unwrap(), "{backend:?}: inserted");
        assert!(!store.insert_merchant(&merchant("tenant-a")).await.unwrap(), "{backend:?}: never inserted twice");
        assert_eq!(
            store.merchant(&tenant, &id).await.unwrap(),
            Some(original.clone()),
            "{backend:?}: reads back whole, in order"
        );
        assert_eq!(
            store.merchant(&TenantId::parse("tenant-b").unwrap(), &id).await.unwrap(),
            None,
            "{backend:?}: tenant-scoped"
        );

        // First credentials on a connection with none: expected fingerprint None, version 0.
        let written = store.write_connection(&tenant, &id, &write("midCon_b", 0, None, 7)).await.unwrap();
        let b = written.connection(&ConnectionId::parse("midCon_b").unwrap()).unwrap();
        assert_eq!(
            (b.version, b.status, b.credentials.clone()),
            (1, ConnectionStatus::Active, Some(sealed(7))),
            "{backend:?}"
        );
        assert_eq!((written.modified_on, written.modified_by.as_str()), (at(100), "API Key: Rotator"));
        assert_eq!(written.connections[1], original.connections[1], "{backend:?}: the other connection is untouched");
        assert_eq!(
            store.merchant(&tenant, &id).await.unwrap(),
            Some(written.clone()),
            "{backend:?}: what was returned is stored"
        );

        // Every stale or wrong expectation conflicts and changes nothing.
        for (label, bad) in [
            ("stale version", write("midCon_a", 0, Some(1), 9)),
            ("wrong fingerprint", write("midCon_a", 1, Some(2), 9)),
            ("credentials on file but none expected", write("midCon_a", 1, None, 9)),
            ("credentials expected but none on file", {
                let mut w = write("midCon_b", 1, Some(7), 9);
                w.connection_id = ConnectionId::parse("midCon_zzz").unwrap();
                w
            }),
        ] {
            let result = store.write_connection(&tenant, &id, &bad).await;
            assert!(matches!(result, Err(ConnectionWriteError::Conflict { .. })), "{backend:?}: {label}: {result:?}");
        }
        let other_tenant =
            store.write_connection(&TenantId::parse("tenant-b").unwrap(), &id, &write("midCon_a", 1, Some(1), 9)).await;
        assert!(
            matches!(other_tenant, Err(ConnectionWriteError::Conflict { current: None })),
            "{backend:?}: another tenant's merchant"
        );
        assert_eq!(
            store.merchant(&tenant, &id).await.unwrap(),
            Some(written),
            "{backend:?}: conflicts changed nothing"
        );

        // A proof guard is set only against the failure count read, and only on this tenant's connection.
        let a = ConnectionId::parse("midCon_a").unwrap();
        let locked = ProofGuard { failures: 5, locked_until: Some(at(160)) };
        let one = ProofGuard { failures: 1, locked_until: None };
        assert!(!store.guard_proof(&tenant, &id, &a, 1, &one).await.unwrap(), "{backend:?}: none counted yet");
        assert!(store.guard_proof(&tenant, &id, &a, 0, &one).await.unwrap(), "{backend:?}");
        assert!(!store.guard_proof(&tenant, &id, &a, 0, &locked).await.unwrap(), "{backend:?}: the count moved on");
        assert!(store.guard_proof(&tenant, &id, &a, 1, &locked).await.unwrap(), "{backend:?}");
        let nowhere = ConnectionId::parse("midCon_zzz").unwrap();
        assert!(!store.guard_proof(&tenant, &id, &nowhere, 0, &one).await.unwrap(), "{backend:?}: no such connection");
        let tenant_b = TenantId::parse("tenant-b").unwrap();
        assert!(!store.guard_proof(&tenant_b, &id, &a, 0, &one).await.unwrap(), "{backend:?}: another tenant's");
        let guarded = store.merchant(&tenant, &id).await.unwrap().unwrap();
        assert_eq!(guarded.connections[1].guard, locked, "{backend:?}: read back exactly");
        assert_eq!(guarded.connections[0].guard, ProofGuard::default(), "{backend:?}: the other one is untouched");

        // The right expectation rotates, and the guard stays as it was (the use case resets it).
        let rotated = store.write_connection(&tenant, &id, &write("midCon_a", 1, Some(1), 8)).await.unwrap();
        assert_eq!(rotated.connections[1].version, 2);
        assert_eq!(rotated.connections[1].credentials, Some(sealed(8)));
        assert_eq!(rotated.connections[1].guard, locked, "{backend:?}");
        assert!(store.guard_proof(&tenant, &id, &a, 5, &ProofGuard::default()).await.unwrap(), "{backend:?}");
        assert_eq!(store.merchant(&tenant, &id).await.unwrap().unwrap().connections[1].guard, ProofGuard::default());

        // A fingerprint is re-keyed only from the one expected, and nothing else of the connection changes.
        let before = store.merchant(&tenant, &id).await.unwrap().unwrap();
        let on_file = before.connections[1].credentials.clone().unwrap().fingerprint;
        let rekeyed = KeyedHash::with_key_id(HmacKeyId::parse("k2").unwrap(), &[42; 32]).unwrap();
        let wrong = KeyedHash::from_bytes(&[1; 32]).unwrap();
        assert!(
            !store.rekey_fingerprint(&tenant, &id, &a, &wrong, &rekeyed).await.unwrap(),
            "{backend:?}: not expected"
        );
        assert!(!store.rekey_fingerprint(&tenant_b, &id, &a, &on_file, &rekeyed).await.unwrap(), "{backend:?}");
        assert!(!store.rekey_fingerprint(&tenant, &id, &nowhere, &on_file, &rekeyed).await.unwrap(), "{backend:?}");
        let on_b = before.connections[0].credentials.clone().unwrap().fingerprint;
        assert_eq!(
            store.merchant(&tenant, &id).await.unwrap().unwrap(),
            before,
            "{backend:?}: refusals change nothing"
        );
        assert!(store.rekey_fingerprint(&tenant, &id, &a, &on_file, &rekeyed).await.unwrap(), "{backend:?}");
        let after = store.merchant(&tenant, &id).await.unwrap().unwrap();
        let mut expected = before.clone();
        expected.connections[1].credentials.as_mut().unwrap().fingerprint = rekeyed.clone();
        assert_eq!(after, expected, "{backend:?}: only the fingerprint changed (not the version, nor the stamp)");
        assert_eq!(after.connections[1].credentials.as_ref().unwrap().fingerprint.key_id().as_str(), "k2");
        assert!(
            !store.rekey_fingerprint(&tenant, &id, &a, &on_file, &rekeyed).await.unwrap(),
            "{backend:?}: done once"
        );
        assert_eq!(after.connections[0].credentials.as_ref().unwrap().fingerprint, on_b, "{backend:?}: the other one");
        // The rotation's write conditions on the fingerprint as re-keyed.
        let rotate = |expected: &KeyedHash| ConnectionWrite {
            expected_fingerprint: Some(expected.clone()),
            ..write("midCon_a", 2, None, 5)
        };
        assert!(store.write_connection(&tenant, &id, &rotate(&on_file)).await.is_err(), "{backend:?}: the old one");
        assert!(store.write_connection(&tenant, &id, &rotate(&rekeyed)).await.is_ok(), "{backend:?}: the re-keyed one");

        // A scan finds every merchant of every tenant once, page after page.
        let mut inserted = vec![(tenant.clone(), id.clone())];
        for n in 0..105 {
            let mut m = merchant(if n % 2 == 0 { "tenant-a" } else { "tenant-b" });
            m.id = MerchantId::parse(&format!("mid_scan_{n:03}")).unwrap();
            assert!(store.insert_merchant(&m).await.unwrap());
            inserted.push((m.tenant, m.id));
        }
        let (mut found, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = store.merchants_page(after.as_ref()).await.unwrap();
            pages += 1;
            found.extend(page.items.into_iter().map(|m| (m.tenant, m.id)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let key = |(t, m): &(TenantId, MerchantId)| (t.to_string(), m.to_string());
        let (mut found, mut inserted): (Vec<_>, Vec<_>) =
            (found.iter().map(key).collect(), inserted.iter().map(key).collect());
        found.sort();
        inserted.sort();
        assert_eq!(found, inserted, "{backend:?}: each once, in {pages} pages");
    }

    #[tokio::test]
    async fn embedded_store_honours_the_merchant_store_contract() {
        contract(Backend::Local).await;
    }

    #[tokio::test]
    async fn dynamodb_honours_the_merchant_store_contract() {
        contract(Backend::Aws).await;
    }

    #[tokio::test]
    async fn hmac_key_sources_give_a_stable_keyring_that_rotations_replace() {
        use cofre_domain::secret::SecretBytes;
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let first = stack.hmac.hmac_keyring().await.unwrap();
            let probe = first.hash("probe", b"m");
            assert!(
                stack.hmac.hmac_keyring().await.unwrap().hash("probe", b"m").matches(&probe),
                "{backend:?}: stable"
            );
            // A new stack's keyring: the plain-string secret's one key (AWS), a keyring of one (local).
            let expected = if backend == Backend::Aws { "legacy" } else { "k1" };
            assert_eq!(first.current().as_str(), expected, "{backend:?}");

            // What a rotation saves is what the store then holds, and what a reader reads afresh.
            let stored = stack.hmac_keyring.load().await.unwrap();
            assert!(stored.hash("probe", b"m").matches(&probe), "{backend:?}: the same key");
            let k9 = HmacKeyId::parse("k9").unwrap();
            let rotated =
                stored.with_key(k9.clone(), SecretBytes::new(vec![9; 32])).unwrap().with_current(&k9).unwrap();
            stack.hmac_keyring.save(&rotated).await.unwrap();
            let reloaded = stack.hmac_keyring.load().await.unwrap();
            assert_eq!((reloaded.current(), reloaded.ids().count()), (&k9, 2), "{backend:?}");
            assert!(reloaded.verify(&probe, "probe", b"m").unwrap(), "{backend:?}: the old key kept");
            let fresh = stack.fresh_hmac().hmac_keyring().await.unwrap();
            assert_eq!(fresh.current(), &k9, "{backend:?}: a new reader reads it");
            assert!(fresh.hash("probe", b"m").matches(&rotated.hash("probe", b"m")), "{backend:?}");
        }

        let sdk = cofre_tests::moto_sdk_config();
        let client = cofre_tests::secrets_client(&sdk, &Default::default());
        let short = cofre_tests::create_secret(&client, "too-short").await;
        let source = cofre_aws::SecretsManagerHmacKey::new(client.clone(), short);
        assert!(source.hmac_keyring().await.is_err(), "a short key is refused");
        let missing = cofre_aws::SecretsManagerHmacKey::new(client.clone(), "cofre-no-such-secret");
        assert!(missing.hmac_keyring().await.is_err());

        // An execution environment keeps the keyring for a period, then reads it again; a value it cannot
        // use then (a bad document) keeps the one it holds.
        let one = HmacKeyring::legacy(SecretBytes::new(vec![1; 32])).unwrap();
        let secret = cofre_tests::create_secret(&client, one.to_secret().expose()).await;
        let kept = cofre_aws::SecretsManagerHmacKey::new(client.clone(), &secret);
        let refreshed =
            cofre_aws::SecretsManagerHmacKey::new(client.clone(), &secret).refreshed_every(std::time::Duration::ZERO);
        for source in [&kept, &refreshed] {
            assert_eq!(source.hmac_keyring().await.unwrap().current().as_str(), "legacy");
        }
        let k2 = HmacKeyId::parse("k2").unwrap();
        let two = one.with_key(k2.clone(), SecretBytes::new(vec![2; 32])).unwrap().with_current(&k2).unwrap();
        client.put_secret_value().secret_id(&secret).secret_string(two.to_secret().expose()).send().await.unwrap();
        assert_eq!(kept.hmac_keyring().await.unwrap().current().as_str(), "legacy", "within its period");
        assert_eq!(refreshed.hmac_keyring().await.unwrap().current(), &k2, "past its period");
        client
            .put_secret_value()
            .secret_id(&secret)
            .secret_string(r#"{"current":"k3","keys":{}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(refreshed.hmac_keyring().await.unwrap().current(), &k2, "an unusable value keeps the one held");
    }
}

mod ledger {
    use cofre_domain::authorizations::{
        AccountId, AuthorizationId, AuthorizationRecord, BalanceChange, Category, Commit, CommitError, Ledger,
        LedgerItem, LedgerKey, LookupKey, Mti, Settlement, parse_authorization_request,
    };
    use cofre_domain::tenant::TenantId;
    use cofre_domain::tracking::TrackingId;
    use cofre_tests::{Backend, Stack, account_fixture};

    fn tenant() -> TenantId {
        TenantId::parse("tenant-a").unwrap()
    }

    /// A real decision's commit, made by the use case's own code path on a throwaway stack.
    async fn decision(
        tracking: &str,
        amount: &str,
    ) -> (cofre_domain::authorizations::AuthorizationRecord, cofre_domain::authorizations::RecordedDecision) {
        let stack = Stack::new(Backend::Local).await;
        stack.seed_accounts(&account_fixture()).await;
        let mut body = cofre_tests::authorization_body(1001, amount);
        body["tracking_id"] = serde_json::json!(tracking);
        let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
        let caller = cofre_tests::caller("tenant-a");
        stack.authorizer().authorize(&caller, &TrackingId::generate(), request).await.unwrap();
        let keys = [LedgerKey::Recorded(TrackingId::parse(tracking).unwrap())];
        let Some(Ok(LedgerItem::Recorded(recorded))) =
            stack.ledger.get(&tenant(), &keys).await.unwrap().pop().flatten()
        else {
            panic!()
        };
        let keys = [LedgerKey::Authorization(recorded.authorization_id)];
        let Some(Ok(LedgerItem::Authorization(record))) =
            stack.ledger.get(&tenant(), &keys).await.unwrap().pop().flatten()
        else {
            panic!()
        };
        (record, recorded)
    }

    /// What `AuthorizationOf(tracking)` reads to: `Some` with the authorization when the store gives it
    /// with the tracking record, `None` when it gives the decision pointing at `id` instead.
    async fn authorization_of(ledger: &dyn Ledger, tracking: &str, id: AuthorizationId) -> Option<AuthorizationRecord> {
        let keys = [LedgerKey::AuthorizationOf(TrackingId::parse(tracking).unwrap())];
        match ledger.get(&tenant(), &keys).await.unwrap().pop().flatten() {
            Some(Ok(LedgerItem::Authorization(a))) => Some(a),
            Some(Ok(LedgerItem::Recorded(r))) if r.authorization_id == id => None,
            other => panic!("{tracking}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn card_hash_stores_rekey_a_card_with_its_look_up_and_scan_every_account() {
        use cofre_domain::crypto::{HmacKeyId, KeyedHash};
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            stack.seed_accounts(&account_fixture()).await;
            // A decision first: on DynamoDB the balance lives beside the body, which re-keying rewrites.
            let body = cofre_tests::authorization_body(1001, "60.00");
            let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
            let caller = cofre_tests::caller("tenant-a");
            stack.authorizer().authorize(&caller, &TrackingId::generate(), request).await.unwrap();
            let before = stack.account("tenant-a", 1001).await;
            assert_eq!(before.available, 94_000, "{backend:?}");
            let (id, old) = (before.id, before.cards[0].pan_hash.clone());
            let new = KeyedHash::with_key_id(HmacKeyId::parse("k2").unwrap(), &[42; 32]).unwrap();
            let wrong = KeyedHash::from_bytes(&[1; 32]).unwrap();
            let cards = stack.cards.as_ref();
            assert!(!cards.rekey_card(&tenant(), id, 501, &wrong, &new).await.unwrap(), "{backend:?}: not its hash");
            assert!(!cards.rekey_card(&tenant(), id, 502, &old, &new).await.unwrap(), "{backend:?}: another card's");
            assert!(!cards.rekey_card(&tenant(), id, 999, &old, &new).await.unwrap(), "{backend:?}: no such card");
            let nowhere = AccountId::new(9).unwrap();
            assert!(
                !cards.rekey_card(&tenant(), nowhere, 501, &old, &new).await.unwrap(),
                "{backend:?}: no such account"
            );
            let tenant_b = TenantId::parse("tenant-b").unwrap();
            assert!(!cards.rekey_card(&tenant_b, id, 501, &old, &new).await.unwrap(), "{backend:?}: another tenant's");
            assert_eq!(stack.account("tenant-a", 1001).await, before, "{backend:?}: refusals change nothing");

            assert!(cards.rekey_card(&tenant(), id, 501, &old, &new).await.unwrap(), "{backend:?}");
            let mut expected = before.clone();
            expected.cards[0].pan_hash = new.clone();
            assert_eq!(stack.account("tenant-a", 1001).await, expected, "{backend:?}: the card's hash only");
            let lookups =
                [LedgerKey::Lookup(LookupKey::Pan(new.clone())), LedgerKey::Lookup(LookupKey::Pan(old.clone()))];
            let mut items = stack.ledger.get(&tenant(), &lookups).await.unwrap().into_iter();
            match items.next().flatten() {
                Some(Ok(LedgerItem::Lookup(t))) => {
                    assert_eq!((t.len(), t[0].account_id, t[0].program_id, t[0].card_id), (1, id, 1, Some(501)));
                }
                other => panic!("{backend:?}: {other:?}"),
            }
            assert!(items.next().flatten().is_none(), "{backend:?}: the old look-up is gone");
            assert!(!cards.rekey_card(&tenant(), id, 501, &old, &new).await.unwrap(), "{backend:?}: done once");
            // A hash whose look-up already points at a card is refused, and nothing changes.
            let taken = cards.rekey_card(&tenant(), id, 505, &expected.cards[4].pan_hash, &new).await;
            assert!(taken.is_err(), "{backend:?}: {taken:?}");
            assert_eq!(stack.account("tenant-a", 1001).await, expected, "{backend:?}");

            let (mut found, mut after) = (Vec::new(), None);
            loop {
                let page = cards.accounts_page(after.as_ref()).await.unwrap();
                found.extend(page.items.iter().map(|a| (a.tenant.to_string(), a.id.get(), a.cards.len())));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            found.sort();
            let ids: Vec<_> = found.iter().map(|(t, id, _)| format!("{t}/{id}")).collect();
            assert_eq!(
                ids,
                ["tenant-a/1001", "tenant-a/1002", "tenant-a/1003", "tenant-a/1004", "tenant-a/1005", "tenant-b/2001"],
                "{backend:?}: every account once (no authorization, look-up or record)"
            );
            assert_eq!(found[0].2, 6, "{backend:?}");
        }
    }

    async fn contract(backend: Backend) {
        let stack = Stack::new(backend).await;
        let ledger = stack.ledger.as_ref();
        assert_eq!(stack.seed_accounts(&account_fixture()).await, (6, 0), "{backend:?}");
        assert_eq!(stack.seed_accounts(&account_fixture()).await, (0, 6), "{backend:?}: seeding twice changes nothing");
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.limit, account.cards.len()), (100_000, 100_000, 6));
        assert_eq!(account.cards[0].masked_pan, "411111******1111", "only first six and last four are kept");

        // One round trip answers in key order, None for what is absent; lookups find their account.
        let keys = [
            LedgerKey::Recorded(TrackingId::parse("nothing").unwrap()),
            LedgerKey::Lookup(LookupKey::StoredId("tok_502".into())),
            LedgerKey::Lookup(LookupKey::Document("11111111111".into())),
            LedgerKey::Account(AccountId::new(1002).unwrap()),
            LedgerKey::Account(AccountId::new(9).unwrap()),
        ];
        let items = ledger.get(&tenant(), &keys).await.unwrap();
        assert!(items[0].is_none() && items[4].is_none(), "{backend:?}");
        match &items[1] {
            Some(Ok(LedgerItem::Lookup(t))) => assert_eq!((t[0].account_id.get(), t[0].card_id), (1001, Some(502))),
            other => panic!("{backend:?}: {other:?}"),
        }
        match &items[2] {
            Some(Ok(LedgerItem::Lookup(t))) => {
                let mut programs: Vec<i64> = t.iter().map(|t| t.program_id).collect();
                programs.sort();
                assert_eq!(programs, [1, 2], "{backend:?}: a document lists its accounts in every program");
            }
            other => panic!("{backend:?}: {other:?}"),
        }
        assert!(matches!(&items[3], Some(Ok(LedgerItem::Account(a))) if a.id.get() == 1002));
        assert!(
            ledger.get(&TenantId::parse("tenant-b").unwrap(), &keys[3..4]).await.unwrap()[0].is_none(),
            "tenant-scoped"
        );

        // A commit is all or nothing.
        let (record, recorded) = decision("contract-1", "60.00").await;
        let commit = |delta: i64, keep: bool, normal: bool, account: i64| Commit {
            tenant: tenant(),
            balance: Some(BalanceChange {
                account_id: AccountId::new(account).unwrap(),
                delta,
                // A spend here is a hold, and what comes back comes out of it.
                held_delta: -delta,
                keep_non_negative: keep,
                require_normal: normal,
            }),
            authorization: record.clone(),
            original: None,
            recorded: recorded.clone(),
            events: vec![],
        };
        let refusals = [
            ("overdraw", commit(-100_001, true, true, 1001)),
            ("not NORMAL", commit(-1, true, true, 1002)),
            ("no such account", commit(-1, false, false, 9)),
        ];
        for (label, c) in refusals {
            assert!(matches!(ledger.commit(&c).await, Err(CommitError::Conflict)), "{backend:?}: {label}");
        }
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.held), (100_000, 0), "{backend:?}: refused commits change nothing");
        assert!(ledger.get(&tenant(), &[LedgerKey::Authorization(record.id)]).await.unwrap()[0].is_none());

        ledger.commit(&commit(-6_000, true, true, 1001)).await.unwrap();
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.held), (94_000, 6_000), "{backend:?}");
        // An original named by tracking_id is had in the same read, tenant-scoped.
        assert_eq!(authorization_of(ledger, "contract-1", record.id).await.as_ref(), Some(&record), "{backend:?}");
        let of = [LedgerKey::AuthorizationOf(TrackingId::parse("contract-1").unwrap())];
        assert!(ledger.get(&TenantId::parse("tenant-b").unwrap(), &of).await.unwrap()[0].is_none(), "tenant-scoped");
        assert!(
            matches!(ledger.commit(&commit(-6_000, true, true, 1001)).await, Err(CommitError::Duplicate)),
            "{backend:?}: same tracking id"
        );
        let mut other_tracking = commit(-6_000, true, true, 1001);
        other_tracking.recorded.tracking_id = TrackingId::parse("contract-2").unwrap();
        assert!(
            matches!(ledger.commit(&other_tracking).await, Err(CommitError::Conflict)),
            "{backend:?}: authorization id already taken"
        );
        // A forced overdraft is allowed when the commit does not ask for a non-negative balance.
        let mut forced = commit(-200_000, false, false, 1001);
        forced.recorded.tracking_id = TrackingId::parse("contract-3").unwrap();
        forced.authorization.id = AuthorizationId(record.id.0 + 1);
        forced.balance.as_mut().unwrap().held_delta = 0;
        ledger.commit(&forced).await.unwrap();
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.held), (-106_000, 6_000), "{backend:?}: a spend that holds nothing");

        // The original is updated only at the version read, and read by tracking_id as it now stands,
        // with what acted on it listed.
        let mut next = record.clone();
        next.held = 1_000;
        next.version = 2;
        next.list_settlement(Settlement {
            id: AuthorizationId(record.id.0 + 2),
            tracking_id: TrackingId::parse("contract-4").unwrap(),
            mti: Mti::Cancellation,
            category: Category::PartialCancellation,
            amount: 5_000,
            created_at: record.created_at,
        });
        let mut settle = commit(5_000, false, false, 1001);
        settle.recorded.tracking_id = TrackingId::parse("contract-4").unwrap();
        settle.authorization.id = AuthorizationId(record.id.0 + 2);
        settle.original = Some((next.clone(), 7));
        assert!(matches!(ledger.commit(&settle).await, Err(CommitError::Conflict)), "{backend:?}: stale original");
        assert_eq!(authorization_of(ledger, "contract-1", record.id).await.as_ref(), Some(&record), "{backend:?}");
        settle.original = Some((next.clone(), 1));
        ledger.commit(&settle).await.unwrap();
        assert_eq!(authorization_of(ledger, "contract-1", record.id).await.as_ref(), Some(&next), "{backend:?}");
        let mut last = next.clone();
        last.held = 0;
        last.version = 3;
        let mut settle_rest = commit(1_000, false, false, 1001);
        settle_rest.recorded.tracking_id = TrackingId::parse("contract-5").unwrap();
        settle_rest.authorization.id = AuthorizationId(record.id.0 + 3);
        settle_rest.original = Some((last.clone(), 2));
        ledger.commit(&settle_rest).await.unwrap();
        let Some(Ok(LedgerItem::Authorization(stored))) =
            ledger.get(&tenant(), &[LedgerKey::Authorization(record.id)]).await.unwrap().pop().flatten()
        else {
            panic!()
        };
        assert_eq!((stored.held, stored.version, &stored.settlements), (0, 3, &next.settlements), "{backend:?}");
        // Nothing can act on it now: DynamoDB no longer keeps its copy; the embedded store reads it.
        let expected = (backend == Backend::Local).then_some(&last);
        assert_eq!(authorization_of(ledger, "contract-1", record.id).await.as_ref(), expected, "{backend:?}");
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.held), (-100_000, 0), "{backend:?}");
        // A change to holds alone (a confirmation of all it held) moves no available amount.
        let mut confirmed = commit(0, false, false, 1001);
        confirmed.recorded.tracking_id = TrackingId::parse("contract-6").unwrap();
        confirmed.authorization.id = AuthorizationId(record.id.0 + 4);
        confirmed.balance.as_mut().unwrap().held_delta = -250;
        ledger.commit(&confirmed).await.unwrap();
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.held), (-100_000, -250), "{backend:?}");
        // Another tenant reads none of it.
        let other = TenantId::parse("tenant-b").unwrap();
        let keys = [LedgerKey::Authorization(record.id), LedgerKey::Account(AccountId::new(1001).unwrap())];
        assert!(ledger.get(&other, &keys).await.unwrap().iter().all(Option::is_none), "{backend:?}: tenant-scoped");
    }

    /// An account stored before holds were counted (no `held` anywhere) reads 0 held, and its first
    /// change to holds starts the count from there.
    async fn accounts_stored_before_holds_were_counted(backend: Backend) {
        let stack = Stack::new(backend).await;
        stack.seed_accounts(&account_fixture()[..1]).await;
        match (&stack.embedded, &stack.dynamodb, &stack.ledger_tables) {
            (Some(embedded), _, _) => {
                let connection = rusqlite::Connection::open(embedded.path()).unwrap();
                let key = ("TENANT#tenant-a", "ACCOUNT#1001");
                let select = "SELECT body FROM items WHERE pk = ?1 AND sk = ?2";
                let body: String = connection.query_row(select, key, |row| row.get(0)).unwrap();
                let mut old: serde_json::Value = serde_json::from_str(&body).unwrap();
                old.as_object_mut().unwrap().remove("held").unwrap();
                let update = "UPDATE items SET body = ?3 WHERE pk = ?1 AND sk = ?2";
                assert_eq!(connection.execute(update, (key.0, key.1, old.to_string())).unwrap(), 1);
            }
            (None, Some((client, _)), Some((table, _))) => {
                let key = [("pk", "TENANT#tenant-a"), ("sk", "ACCOUNT#1001")]
                    .map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())));
                let item = client.get_item().table_name(table).set_key(Some(key.clone().into())).send().await.unwrap();
                let mut old: serde_json::Value =
                    serde_json::from_str(item.item().unwrap()["body"].as_s().unwrap()).unwrap();
                old.as_object_mut().unwrap().remove("held").unwrap();
                client
                    .update_item()
                    .table_name(table)
                    .set_key(Some(key.into()))
                    .update_expression("SET body = :body REMOVE held")
                    .expression_attribute_values(":body", aws_sdk_dynamodb::types::AttributeValue::S(old.to_string()))
                    .send()
                    .await
                    .unwrap();
            }
            _ => unreachable!(),
        }
        assert_eq!(stack.account("tenant-a", 1001).await.held, 0, "{backend:?}");
        let (record, recorded) = decision("contract-old", "1.00").await;
        let commit = Commit {
            tenant: tenant(),
            balance: Some(BalanceChange {
                account_id: AccountId::new(1001).unwrap(),
                delta: -100,
                held_delta: 100,
                keep_non_negative: true,
                require_normal: true,
            }),
            authorization: record,
            original: None,
            recorded,
            events: vec![],
        };
        stack.ledger.commit(&commit).await.unwrap();
        let account = stack.account("tenant-a", 1001).await;
        assert_eq!((account.available, account.held), (99_900, 100), "{backend:?}");
    }

    #[tokio::test]
    async fn embedded_store_reads_an_account_stored_before_holds_were_counted() {
        accounts_stored_before_holds_were_counted(Backend::Local).await;
    }

    #[tokio::test]
    async fn dynamodb_reads_an_account_stored_before_holds_were_counted() {
        accounts_stored_before_holds_were_counted(Backend::Aws).await;
    }

    /// `due_holds` pages through every tenant's due holds in `DueHold` order, each page starting after
    /// the last of the one before, however many share a due instant (on DynamoDB: across its shards),
    /// and lists none before it is due.
    #[tokio::test]
    async fn due_holds_page_in_order_across_tenants_and_equal_due_instants() {
        use cofre_domain::authorizations::{Authorizer, DueHold};
        use std::sync::Arc;
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let account = |tenant: &str, id: i64| {
                serde_json::json!({ "tenant_id": tenant, "account_id": id, "program_id": 1,
                    "document_number": format!("{id}0000000"), "status": "NORMAL", "currency": "BRL",
                    "limit": "1000.00", "hold_expiry_seconds": 60 })
            };
            stack.seed_accounts(&[account("tenant-a", 8001), account("tenant-b", 8002)]).await;
            // A whole millisecond, and a clock that moves a microsecond a reading: every hold falls due
            // in the same millisecond.
            let start = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
            let clock = cofre_tests::TestClock::at(start);
            let authorizer = Authorizer::new(
                Arc::clone(&stack.ledger),
                Arc::clone(&stack.hmac),
                Arc::new(clock.clone()),
                Arc::new(cofre_domain::ids::RandomIds::default()),
            );
            for (tenant, account, n) in [("tenant-a", 8001, 5), ("tenant-b", 8002, 4)] {
                for i in 0..n {
                    let mut body = cofre_tests::authorization_body(account, "1.00");
                    body["tracking_id"] = serde_json::json!(format!("due-{tenant}-{i}"));
                    let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
                    let caller = cofre_tests::caller(tenant);
                    let decision = authorizer.authorize(&caller, &TrackingId::generate(), request).await.unwrap();
                    assert!(decision.response.get().contains("APPROVED"), "{backend:?}: {}", decision.response.get());
                }
            }
            let before = start + std::time::Duration::from_secs(59);
            assert!(stack.ledger.due_holds(before, None, 100).await.unwrap().is_empty(), "{backend:?}: none due yet");
            let by = start + std::time::Duration::from_secs(61);
            let all = stack.ledger.due_holds(by, None, 100).await.unwrap();
            assert_eq!(all.len(), 9, "{backend:?}: {all:?}");
            assert!(all.windows(2).all(|w| w[0] < w[1]), "{backend:?}: in order: {all:?}");
            assert!(all.iter().all(|h| h.due_ms == all[0].due_ms), "{backend:?}: one due instant: {all:?}");
            let mut paged: Vec<DueHold> = Vec::new();
            loop {
                let page = stack.ledger.due_holds(by, paged.last(), 2).await.unwrap();
                assert!(page.len() <= 2, "{backend:?}");
                paged.extend(page.iter().cloned());
                if page.len() < 2 {
                    break;
                }
            }
            assert_eq!(paged, all, "{backend:?}: the pages, one after another, are the whole list");
        }
    }

    #[tokio::test]
    async fn embedded_store_honours_the_ledger_contract() {
        contract(Backend::Local).await;
    }

    #[tokio::test]
    async fn dynamodb_honours_the_ledger_contract() {
        contract(Backend::Aws).await;
    }
}

/// The credential store's lookup, listing, revocation and use-audit methods, on every store: what each
/// returns and what each leaves stored, read back through the port and behind it.
mod credential_uses {
    use std::collections::BTreeMap;

    use aws_sdk_dynamodb::types::AttributeValue;
    use cofre_domain::credentials::{
        BeginUseError, CredentialSlot, CredentialStore, CredentialType, CredentialUse, Provider, ProxyValue,
        StoredCredential, UseId, UseOutcome,
    };
    use cofre_domain::tenant::TenantId;
    use cofre_tests::{Backend, Stack};
    use time::OffsetDateTime;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    fn proxy(value: &str) -> ProxyValue {
        ProxyValue::from_stored(value.to_owned())
    }

    /// `seconds` (and `micros`) after a fixed instant: uses are stored to the microsecond.
    fn at(seconds: i64, micros: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap() + time::Duration::microseconds(micros)
    }

    fn credential(
        tenant_name: &str,
        provider: Provider,
        credential_type: CredentialType,
        proxy_value: &str,
        version: u64,
        marker: u8,
    ) -> StoredCredential {
        let slot = CredentialSlot { tenant: tenant(tenant_name), provider, credential_type };
        StoredCredential { proxy: proxy(proxy_value), ..super::record(slot, version, marker) }
    }

    /// Creates `credential` (version 1, never used) in its empty slot and hands it back.
    async fn created(store: &dyn CredentialStore, credential: StoredCredential) -> StoredCredential {
        assert_eq!(store.put(&super::write_of(&credential)).await.unwrap(), credential);
        credential
    }

    /// Replaces the slot of `credential` (at its next version, keeping its proxy, creation and last use)
    /// so that it holds `credential`.
    async fn replaced(store: &dyn CredentialStore, credential: &StoredCredential) {
        assert_eq!(&store.put(&super::write_of(credential)).await.unwrap(), credential);
    }

    /// A pending use of `credential` as it is now, starting at `started_at`.
    fn pending(credential: &StoredCredential, started_at: OffsetDateTime, random: u64) -> CredentialUse {
        CredentialUse {
            id: UseId::new(started_at, random),
            slot: credential.slot.clone(),
            proxy: credential.proxy.clone(),
            credential_version: credential.version,
            subject: format!("user-{random}"),
            method: "POST".into(),
            route: "/pix/v1/transfers/{id}".into(),
            tracking_id: format!("tracking-{random}"),
            started_at,
            outcome: UseOutcome::Pending,
        }
    }

    fn answered(mut record: CredentialUse, partner_status: u16, duration_ms: u64) -> CredentialUse {
        record.outcome = UseOutcome::Answered { partner_status, duration_ms };
        record
    }

    fn failed(mut record: CredentialUse, code: &str, partner_status: Option<u16>, duration_ms: u64) -> CredentialUse {
        record.outcome = UseOutcome::Failed { code: code.into(), partner_status, duration_ms };
        record
    }

    /// Every use of `proxy` in one page.
    async fn all_uses(store: &dyn CredentialStore, tenant_name: &str, proxy: &ProxyValue) -> Vec<CredentialUse> {
        store.uses(&tenant(tenant_name), proxy, None, 1_000).await.unwrap()
    }

    /// Every item of the tenant's partition as stored, read behind the port: sort key → the item.
    async fn items(stack: &Stack, tenant_name: &str) -> BTreeMap<String, String> {
        let pk = format!("TENANT#{tenant_name}");
        match stack.backend {
            Backend::Local => {
                let connection = rusqlite::Connection::open(stack.embedded.as_ref().unwrap().path()).unwrap();
                let mut statement = connection.prepare("SELECT sk, version, body FROM items WHERE pk = ?1").unwrap();
                let rows = statement
                    .query_map([pk], |row| {
                        let (sk, version, body): (String, i64, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
                        Ok((sk, format!("{version} {body}")))
                    })
                    .unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            }
            Backend::Aws => {
                let (client, table) = stack.dynamodb.as_ref().unwrap();
                let output = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(pk))
                    .consistent_read(true)
                    .send()
                    .await
                    .unwrap();
                assert!(output.last_evaluated_key.is_none(), "one page");
                output
                    .items()
                    .iter()
                    .map(|item| (item["sk"].as_s().unwrap().clone(), canonical(&AttributeValue::M(item.clone()))))
                    .collect()
            }
        }
    }

    /// An attribute as text, maps in key order (the SDK's are hash maps).
    fn canonical(value: &AttributeValue) -> String {
        match value {
            AttributeValue::M(map) => {
                let sorted: BTreeMap<_, _> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
                format!("M{sorted:?}")
            }
            AttributeValue::L(list) => format!("L{:?}", list.iter().map(canonical).collect::<Vec<_>>()),
            other => format!("{other:?}"),
        }
    }

    fn sort_keys(items: &BTreeMap<String, String>) -> Vec<&str> {
        items.keys().map(String::as_str).collect()
    }

    async fn begin_use_is_refused(stack: &Stack, record: &CredentialUse, label: &str) {
        let backend = stack.backend;
        let tenant_name = record.slot.tenant.to_string();
        let before = items(stack, &tenant_name).await;
        let result = stack.store.begin_use(record).await;
        assert!(
            matches!(result, Err(BeginUseError::CredentialChanged)),
            "{backend:?}: {label}: expected CredentialChanged, got {result:?}"
        );
        assert_eq!(items(stack, &tenant_name).await, before, "{backend:?}: {label}: a refused use writes nothing");
    }

    #[tokio::test]
    async fn find_by_proxy_and_list_are_tenant_scoped_on_every_store() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let store = stack.store.as_ref();
            assert!(store.list(&tenant("tenant-a")).await.unwrap().is_empty(), "{backend:?}: nothing yet");

            // Created out of slot order, one of them already used once.
            let jdpi =
                created(store, credential("tenant-a", Provider::Jdpi, CredentialType::Pix, "cfp_a_jdpi", 1, 1)).await;
            let btg_pix =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_btg_pix", 1, 2)).await;
            let used =
                created(store, credential("tenant-a", Provider::Celcoin, CredentialType::Baas, "cfp_a_celcoin", 1, 3))
                    .await;
            store.begin_use(&pending(&used, at(42, 0), 2)).await.unwrap();
            let used = StoredCredential { last_used_at: Some(at(42, 0)), ..used };
            let btg_baas =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Baas, "cfp_a_btg_baas", 1, 4))
                    .await;
            let other =
                created(store, credential("tenant-b", Provider::Btg, CredentialType::Pix, "cfp_b_btg", 1, 5)).await;
            // Uses share the tenant's partition: listing must skip them.
            store.begin_use(&pending(&btg_pix, at(50, 0), 1)).await.unwrap();
            let btg_pix = StoredCredential { last_used_at: Some(at(50, 0)), ..btg_pix };

            // Slot order is the stored key order: provider, then type, by wire name.
            let listed = store.list(&tenant("tenant-a")).await.unwrap();
            assert_eq!(listed, [btg_baas.clone(), btg_pix.clone(), used.clone(), jdpi.clone()], "{backend:?}: list");
            assert_eq!(
                store.list(&tenant("tenant-b")).await.unwrap(),
                std::slice::from_ref(&other),
                "{backend:?}: list b"
            );
            assert!(store.list(&tenant("tenant-c")).await.unwrap().is_empty(), "{backend:?}: list c");

            for expected in [&btg_baas, &btg_pix, &used, &jdpi] {
                let found = store.find_by_proxy(&tenant("tenant-a"), &expected.proxy).await.unwrap();
                assert_eq!(found.as_ref(), Some(expected), "{backend:?}: find {:?}", expected.proxy);
            }
            assert_eq!(
                store.find_by_proxy(&tenant("tenant-a"), &used.proxy).await.unwrap().unwrap().last_used_at,
                Some(at(42, 0)),
                "{backend:?}: last_used_at round-trips"
            );
            assert_eq!(store.get(&used.slot).await.unwrap().unwrap().last_used_at, Some(at(42, 0)), "{backend:?}");
            assert_eq!(store.find_by_proxy(&tenant("tenant-b"), &other.proxy).await.unwrap(), Some(other.clone()));

            for (label, who, unknown) in [
                ("unknown proxy", "tenant-a", proxy("cfp_nobody")),
                ("another tenant's proxy", "tenant-a", other.proxy.clone()),
                ("another tenant asking", "tenant-b", btg_pix.proxy.clone()),
                ("tenant with nothing", "tenant-c", btg_pix.proxy.clone()),
                ("a proxy's prefix", "tenant-a", proxy("cfp_a_btg")),
            ] {
                assert_eq!(store.find_by_proxy(&tenant(who), &unknown).await.unwrap(), None, "{backend:?}: {label}");
            }
        }
    }

    #[tokio::test]
    async fn revoke_deletes_only_that_credential_and_keeps_its_uses_on_every_store() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let store = stack.store.as_ref();
            let doomed =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_doomed", 1, 1)).await;
            let kept =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Baas, "cfp_a_kept", 1, 2)).await;
            let other =
                created(store, credential("tenant-b", Provider::Btg, CredentialType::Pix, "cfp_b_other", 1, 3)).await;
            let first = answered(pending(&doomed, at(10, 1), 1), 200, 12);
            store.begin_use(&pending(&doomed, at(10, 1), 1)).await.unwrap();
            store.finish_use(&first).await.unwrap();
            let second = pending(&doomed, at(11, 2), 2);
            store.begin_use(&second).await.unwrap();
            let kept_use = pending(&kept, at(12, 3), 3);
            store.begin_use(&kept_use).await.unwrap();
            let other_use = pending(&other, at(13, 4), 4);
            store.begin_use(&other_use).await.unwrap();

            let (a_before, b_before) = (items(&stack, "tenant-a").await, items(&stack, "tenant-b").await);
            for (label, who, target) in [
                ("unknown proxy", "tenant-a", proxy("cfp_nobody")),
                ("another tenant's proxy", "tenant-a", other.proxy.clone()),
                ("by another tenant", "tenant-b", doomed.proxy.clone()),
                ("by a tenant with nothing", "tenant-c", doomed.proxy.clone()),
            ] {
                assert!(!store.revoke(&tenant(who), &target).await.unwrap(), "{backend:?}: {label}");
            }
            assert_eq!(items(&stack, "tenant-a").await, a_before, "{backend:?}: refused revokes change nothing");
            assert_eq!(items(&stack, "tenant-b").await, b_before, "{backend:?}: refused revokes change nothing");

            assert!(store.revoke(&tenant("tenant-a"), &doomed.proxy).await.unwrap(), "{backend:?}: revoked");
            assert!(!store.revoke(&tenant("tenant-a"), &doomed.proxy).await.unwrap(), "{backend:?}: already revoked");

            assert_eq!(store.get(&doomed.slot).await.unwrap(), None, "{backend:?}: slot empty");
            assert_eq!(store.find_by_proxy(&tenant("tenant-a"), &doomed.proxy).await.unwrap(), None, "{backend:?}");
            let kept_now = StoredCredential { last_used_at: Some(at(12, 0)), ..kept.clone() };
            assert_eq!(
                store.list(&tenant("tenant-a")).await.unwrap(),
                std::slice::from_ref(&kept_now),
                "{backend:?}: other slot kept"
            );
            assert_eq!(store.find_by_proxy(&tenant("tenant-a"), &kept.proxy).await.unwrap(), Some(kept_now));
            assert_eq!(items(&stack, "tenant-b").await, b_before, "{backend:?}: other tenant untouched");

            // Exactly the credential item went: every use, the revoked one's included, stays readable.
            let mut expected = a_before.clone();
            expected.remove("CREDENTIAL#BTG#PIX");
            assert_eq!(items(&stack, "tenant-a").await, expected, "{backend:?}: only the credential item deleted");
            assert_eq!(all_uses(store, "tenant-a", &doomed.proxy).await, [second.clone(), first], "{backend:?}");
            assert_eq!(all_uses(store, "tenant-a", &kept.proxy).await, [kept_use], "{backend:?}");
            assert_eq!(all_uses(store, "tenant-b", &other.proxy).await, [other_use], "{backend:?}");

            // A revoked credential can no longer be used, and the pending use can still be finished.
            begin_use_is_refused(&stack, &pending(&doomed, at(20, 0), 5), "revoked").await;
            let second_done = failed(second, "EBAA0002", None, 500);
            store.finish_use(&second_done).await.unwrap();
            assert_eq!(all_uses(store, "tenant-a", &doomed.proxy).await[0], second_done, "{backend:?}");
            assert_eq!(store.get(&doomed.slot).await.unwrap(), None, "{backend:?}: finishing does not revive it");
        }
    }

    #[tokio::test]
    async fn begin_use_and_finish_use_record_the_audit_atomically_on_every_store() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let store = stack.store.as_ref();
            let v1 =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_btg", 1, 1)).await;
            let neighbour =
                created(store, credential("tenant-a", Provider::Celcoin, CredentialType::Pix, "cfp_a_celcoin", 1, 2))
                    .await;

            // Begin: the pending use and last_used_at (to the second) in one write; nothing else moves.
            let started = at(100, 250_999);
            let first = pending(&v1, started, 7);
            store.begin_use(&first).await.unwrap();
            assert_eq!(
                all_uses(store, "tenant-a", &v1.proxy).await,
                std::slice::from_ref(&first),
                "{backend:?}: pending use"
            );
            let touched = StoredCredential { last_used_at: Some(at(100, 0)), ..v1.clone() };
            assert_eq!(store.get(&v1.slot).await.unwrap(), Some(touched.clone()), "{backend:?}: last_used_at");
            assert_eq!(store.get(&neighbour.slot).await.unwrap(), Some(neighbour.clone()), "{backend:?}: neighbour");
            assert_eq!(
                sort_keys(&items(&stack, "tenant-a").await),
                ["CREDENTIAL#BTG#PIX", "CREDENTIAL#CELCOIN#PIX", &format!("USE#cfp_a_btg#{}", first.id)],
                "{backend:?}: exactly one use item"
            );

            // Finish: the outcome is read back exactly, without touching the credential again.
            let first_done = answered(first.clone(), 201, 1_234);
            store.finish_use(&first_done).await.unwrap();
            assert_eq!(
                all_uses(store, "tenant-a", &v1.proxy).await,
                std::slice::from_ref(&first_done),
                "{backend:?}: answered"
            );
            assert_eq!(store.get(&v1.slot).await.unwrap(), Some(touched.clone()), "{backend:?}");

            let second = pending(&touched, at(101, 17), 8);
            store.begin_use(&second).await.unwrap();
            let second_done = failed(second, "EBAA0004", Some(503), 30_000);
            store.finish_use(&second_done).await.unwrap();
            let third = pending(&touched, at(102, 999_999), 9);
            store.begin_use(&third).await.unwrap();
            let third_done = failed(third, "EBAA0002", None, 0);
            store.finish_use(&third_done).await.unwrap();
            assert_eq!(
                all_uses(store, "tenant-a", &v1.proxy).await,
                [third_done.clone(), second_done.clone(), first_done.clone()],
                "{backend:?}: every outcome read back exactly, newest first"
            );
            let touched = StoredCredential { last_used_at: Some(at(102, 0)), ..v1.clone() };
            assert_eq!(store.get(&v1.slot).await.unwrap(), Some(touched.clone()), "{backend:?}: latest use");

            // The same use cannot be begun twice (a finished use is never reset to pending).
            let again = store.begin_use(&first).await;
            assert!(matches!(again, Err(BeginUseError::Store(_))), "{backend:?}: duplicate id: {again:?}");
            assert_eq!(all_uses(store, "tenant-a", &v1.proxy).await[2], first_done, "{backend:?}: kept its outcome");
            assert_eq!(store.get(&v1.slot).await.unwrap(), Some(touched.clone()), "{backend:?}: not touched");

            // A stale read writes nothing: replaced since, a version never written, another proxy, gone.
            let v2 = StoredCredential {
                last_used_at: touched.last_used_at,
                ..credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_btg", 2, 3)
            };
            replaced(store, &v2).await;
            begin_use_is_refused(&stack, &pending(&v1, at(200, 0), 10), "replaced since read").await;
            begin_use_is_refused(
                &stack,
                &pending(&StoredCredential { version: 3, ..v2.clone() }, at(200, 0), 11),
                "future version",
            )
            .await;
            begin_use_is_refused(
                &stack,
                &pending(&StoredCredential { proxy: neighbour.proxy.clone(), ..v2.clone() }, at(200, 0), 12),
                "another credential's proxy",
            )
            .await;
            begin_use_is_refused(
                &stack,
                &pending(&StoredCredential { proxy: proxy("cfp_nobody"), ..v2.clone() }, at(200, 0), 13),
                "unknown proxy",
            )
            .await;
            let absent = credential("tenant-a", Provider::Jdpi, CredentialType::Pix, "cfp_a_btg", 1, 4);
            begin_use_is_refused(&stack, &pending(&absent, at(200, 0), 14), "empty slot").await;
            let elsewhere = credential("tenant-b", Provider::Btg, CredentialType::Pix, "cfp_a_btg", 2, 5);
            begin_use_is_refused(&stack, &pending(&elsewhere, at(200, 0), 15), "another tenant").await;
            assert!(items(&stack, "tenant-b").await.is_empty(), "{backend:?}: nothing written for tenant b");
            assert_eq!(store.get(&v1.slot).await.unwrap(), Some(v2.clone()), "{backend:?}: last_used_at unchanged");

            // At the current version it goes through again.
            let fourth = pending(&v2, at(300, 5), 16);
            store.begin_use(&fourth).await.unwrap();
            assert_eq!(all_uses(store, "tenant-a", &v1.proxy).await.len(), 4, "{backend:?}");
            assert_eq!(all_uses(store, "tenant-a", &v1.proxy).await[0], fourth, "{backend:?}: version 2's use");
            assert_eq!(store.get(&v1.slot).await.unwrap().unwrap().last_used_at, Some(at(300, 0)), "{backend:?}");

            // Gone: revoked after the read.
            assert!(store.revoke(&tenant("tenant-a"), &neighbour.proxy).await.unwrap());
            begin_use_is_refused(&stack, &pending(&neighbour, at(400, 0), 17), "revoked since read").await;
            assert!(all_uses(store, "tenant-a", &neighbour.proxy).await.is_empty(), "{backend:?}");

            // Revoked, then the slot filled again: version 1 again, under a new proxy. A gateway that
            // cached the old proxy's slot and version must still be refused.
            let refilled = created(
                store,
                credential("tenant-a", Provider::Celcoin, CredentialType::Pix, "cfp_a_celcoin_again", 1, 6),
            )
            .await;
            begin_use_is_refused(&stack, &pending(&neighbour, at(401, 0), 18), "revoked, the slot filled again").await;
            assert!(all_uses(store, "tenant-a", &neighbour.proxy).await.is_empty(), "{backend:?}");
            store.begin_use(&pending(&refilled, at(402, 0), 19)).await.unwrap();
            assert_eq!(all_uses(store, "tenant-a", &refilled.proxy).await.len(), 1, "{backend:?}: the new proxy's");
        }
    }

    #[tokio::test]
    async fn uses_page_newest_first_and_stay_with_their_proxy_and_tenant_on_every_store() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let store = stack.store.as_ref();
            let mine =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_one", 1, 1)).await;
            let sibling =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Baas, "cfp_a_one_more", 1, 2))
                    .await;
            // Another tenant's credential under the very same proxy text, and one under its own.
            let twin =
                created(store, credential("tenant-b", Provider::Btg, CredentialType::Pix, "cfp_a_one", 1, 3)).await;
            let theirs =
                created(store, credential("tenant-b", Provider::Celcoin, CredentialType::Pix, "cfp_b_own", 1, 4)).await;

            // Five uses, one second apart (the random part decreasing, so only time orders them),
            // interleaved with uses of the other credentials.
            let mut expected = Vec::new();
            for i in 0..5u8 {
                let seconds = i64::from(i);
                let begun = pending(&mine, at(seconds, 500), 100 - u64::from(i));
                store.begin_use(&begun).await.unwrap();
                let record = answered(begun, 200 + u16::from(i), 10);
                store.finish_use(&record).await.unwrap();
                expected.insert(0, record);
                for (n, other) in [&sibling, &twin, &theirs].into_iter().enumerate() {
                    let offset = i64::try_from(n).unwrap() + 1;
                    store.begin_use(&pending(other, at(seconds, 500 + offset), 100 + u64::from(i))).await.unwrap();
                }
            }

            let tenant_a = tenant("tenant-a");
            let mut pages = Vec::new();
            let mut before: Option<UseId> = None;
            loop {
                let page = store.uses(&tenant_a, &mine.proxy, before.as_ref(), 2).await.unwrap();
                if page.is_empty() {
                    break;
                }
                before = Some(page.last().unwrap().id.clone());
                pages.push(page);
                assert!(pages.len() <= 3, "{backend:?}: paging must end");
            }
            let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
            assert_eq!(sizes, [2, 2, 1], "{backend:?}: page sizes");
            assert_eq!(pages.concat(), expected, "{backend:?}: newest first, nothing repeated or missed");
            assert!(
                store.uses(&tenant_a, &mine.proxy, Some(&expected[4].id), 2).await.unwrap().is_empty(),
                "{backend:?}: nothing before the oldest"
            );
            assert_eq!(
                store.uses(&tenant_a, &mine.proxy, None, 5).await.unwrap(),
                expected,
                "{backend:?}: exact limit"
            );
            assert_eq!(
                store.uses(&tenant_a, &mine.proxy, Some(&expected[1].id), 10).await.unwrap(),
                expected[2..],
                "{backend:?}: strictly older than the cursor"
            );
            // A cursor that is not itself a stored use still pages by time.
            let between = UseId::new(at(3, 0), 0);
            assert_eq!(
                store.uses(&tenant_a, &mine.proxy, Some(&between), 10).await.unwrap(),
                expected[2..],
                "{backend:?}: cursor between uses"
            );

            // Each proxy's uses, in each tenant, are only its own.
            let sibling_uses = all_uses(store, "tenant-a", &sibling.proxy).await;
            assert_eq!(sibling_uses.len(), 5, "{backend:?}: sibling");
            assert!(sibling_uses.iter().all(|u| u.proxy == sibling.proxy && u.slot == sibling.slot), "{backend:?}");
            let twin_uses = all_uses(store, "tenant-b", &twin.proxy).await;
            assert_eq!(twin_uses.len(), 5, "{backend:?}: the other tenant's same proxy text");
            assert!(twin_uses.iter().all(|u| u.slot == twin.slot), "{backend:?}: twin uses are tenant b's");
            let theirs_uses = all_uses(store, "tenant-b", &theirs.proxy).await;
            assert_eq!(theirs_uses.len(), 5, "{backend:?}: theirs");
            assert!(theirs_uses.iter().all(|u| u.slot == theirs.slot), "{backend:?}");
            assert!(all_uses(store, "tenant-a", &theirs.proxy).await.is_empty(), "{backend:?}: another tenant's proxy");
            assert!(all_uses(store, "tenant-b", &sibling.proxy).await.is_empty(), "{backend:?}: from another tenant");
            assert!(all_uses(store, "tenant-a", &proxy("cfp_a")).await.is_empty(), "{backend:?}: a proxy's prefix");
            assert!(all_uses(store, "tenant-c", &mine.proxy).await.is_empty(), "{backend:?}: tenant with nothing");
            assert_eq!(all_uses(store, "tenant-a", &mine.proxy).await, expected, "{backend:?}: mine, once more");
        }
    }

    #[tokio::test]
    async fn finish_use_never_records_a_use_that_was_not_begun_on_every_store() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let store = stack.store.as_ref();
            let live =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_live", 1, 1)).await;
            let before = items(&stack, "tenant-a").await;
            let never_begun = answered(pending(&live, at(9, 0), 1), 200, 5);
            let result = store.finish_use(&never_begun).await;
            match backend {
                Backend::Aws => assert!(result.is_err(), "{backend:?}: must fail, got {result:?}"),
                // Queued, not awaited: the writer refuses it and logs why.
                Backend::Local => assert!(result.is_ok(), "{backend:?}: queued, got {result:?}"),
            }
            // Listed first: the listing waits for the queued write.
            assert!(all_uses(store, "tenant-a", &live.proxy).await.is_empty(), "{backend:?}: no use appears");
            assert_eq!(items(&stack, "tenant-a").await, before, "{backend:?}: and nothing is written");
        }
    }

    #[tokio::test]
    async fn a_replace_keeps_the_proxy_and_its_uses_on_every_store() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let store = stack.store.as_ref();
            let v1 =
                created(store, credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_stable", 1, 1)).await;
            let old_use = pending(&v1, at(5, 0), 1);
            store.begin_use(&old_use).await.unwrap();
            let v1 = store.get(&v1.slot).await.unwrap().unwrap();

            // A replace: a new key and data at the next version, under the same proxy.
            let mut v2 = credential("tenant-a", Provider::Btg, CredentialType::Pix, "cfp_a_stable", 2, 2);
            v2.created_at = v1.created_at;
            v2.updated_at = at(60, 0);
            v2.last_used_at = v1.last_used_at;
            replaced(store, &v2).await;

            let found = store.find_by_proxy(&tenant("tenant-a"), &v1.proxy).await.unwrap();
            assert_eq!(found.as_ref(), Some(&v2), "{backend:?}: the same proxy finds the new version");
            assert_eq!(found.unwrap().proxy, v1.proxy, "{backend:?}: proxy kept");
            assert_eq!(store.list(&tenant("tenant-a")).await.unwrap(), [v2.clone()], "{backend:?}: still one slot");
            assert_eq!(
                all_uses(store, "tenant-a", &v1.proxy).await,
                std::slice::from_ref(&old_use),
                "{backend:?}: uses kept"
            );

            // Uses after the replace are made with version 2 and join the same history.
            let new_use = pending(&v2, at(70, 0), 2);
            store.begin_use(&new_use).await.unwrap();
            assert_eq!(all_uses(store, "tenant-a", &v1.proxy).await, [new_use, old_use], "{backend:?}");
        }
    }
}
