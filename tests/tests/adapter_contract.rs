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
        last_used_at: None,
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

mod merchant_store {
    use cofre::crypto::HmacKeySource;
    use cofre::crypto::{KeyedHash, SealedValue};
    use cofre::merchants::{
        Connection, ConnectionId, ConnectionStatus, ConnectionWrite, ConnectionWriteError, CredentialField, Merchant,
        MerchantId, Processor, SealedConnectionCredentials,
    };
    use cofre::tenant::TenantId;
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
                },
                Connection {
                    id: ConnectionId::parse("midCon_a").unwrap(),
                    processor: Processor::Stripe,
                    status: ConnectionStatus::Active,
                    version: 1,
                    credentials: Some(sealed(1)),
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

        // The right expectation rotates.
        let rotated = store.write_connection(&tenant, &id, &write("midCon_a", 1, Some(1), 8)).await.unwrap();
        assert_eq!(rotated.connections[1].version, 2);
        assert_eq!(rotated.connections[1].credentials, Some(sealed(8)));
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
    async fn hmac_key_sources_give_a_stable_key_of_at_least_32_bytes() {
        for backend in Backend::ALL {
            let stack = Stack::new(backend).await;
            let first = stack.hmac.hmac_key().await.unwrap();
            assert!(first.expose().len() >= 32, "{backend:?}");
            assert_eq!(stack.hmac.hmac_key().await.unwrap().expose(), first.expose(), "{backend:?}: stable");
        }
        let sdk = cofre_tests::moto_sdk_config();
        let client = cofre_tests::secrets_client(&sdk, &Default::default());
        let short = cofre_tests::create_secret(&client, "too-short").await;
        let source = cofre::adapters::SecretsManagerHmacKey::new(client.clone(), short);
        assert!(source.hmac_key().await.is_err(), "a short key is refused");
        let missing = cofre::adapters::SecretsManagerHmacKey::new(client, "cofre-no-such-secret");
        assert!(missing.hmac_key().await.is_err());
    }
}

mod ledger {
    use cofre::authorizations::{
        AccountId, AuthorizationId, BalanceChange, Commit, CommitError, LedgerItem, LedgerKey, LookupKey,
        parse_authorization_request,
    };
    use cofre::tenant::TenantId;
    use cofre::tracking::TrackingId;
    use cofre_tests::{Backend, Stack, account_fixture};

    fn tenant() -> TenantId {
        TenantId::parse("tenant-a").unwrap()
    }

    /// A real decision's commit, made by the use case's own code path on a throwaway stack.
    async fn decision(
        tracking: &str,
        amount: &str,
    ) -> (cofre::authorizations::AuthorizationRecord, cofre::authorizations::RecordedDecision) {
        let stack = Stack::new(Backend::Local).await;
        stack.seed_accounts(&account_fixture()).await;
        let mut body = cofre_tests::authorization_body(1001, amount);
        body["tracking_id"] = serde_json::json!(tracking);
        let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
        let caller =
            cofre::tenant::Identity { tenant: tenant(), principal: "p".into(), subject: "p".into(), scopes: vec![] };
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
        assert_eq!(
            stack.account("tenant-a", 1001).await.available,
            100_000,
            "{backend:?}: refused commits change nothing"
        );
        assert!(ledger.get(&tenant(), &[LedgerKey::Authorization(record.id)]).await.unwrap()[0].is_none());

        ledger.commit(&commit(-6_000, true, true, 1001)).await.unwrap();
        assert_eq!(stack.account("tenant-a", 1001).await.available, 94_000);
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
        ledger.commit(&forced).await.unwrap();
        assert_eq!(stack.account("tenant-a", 1001).await.available, -106_000);

        // The original is updated only at the version read.
        let mut next = record.clone();
        next.held = 0;
        next.version = 2;
        let mut settle = commit(6_000, false, false, 1001);
        settle.recorded.tracking_id = TrackingId::parse("contract-4").unwrap();
        settle.authorization.id = AuthorizationId(record.id.0 + 2);
        settle.original = Some((next.clone(), 7));
        assert!(matches!(ledger.commit(&settle).await, Err(CommitError::Conflict)), "{backend:?}: stale original");
        settle.original = Some((next, 1));
        ledger.commit(&settle).await.unwrap();
        let Some(Ok(LedgerItem::Authorization(stored))) =
            ledger.get(&tenant(), &[LedgerKey::Authorization(record.id)]).await.unwrap().pop().flatten()
        else {
            panic!()
        };
        assert_eq!((stored.held, stored.version), (0, 2), "{backend:?}");
        assert_eq!(stack.account("tenant-a", 1001).await.available, -100_000);
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
