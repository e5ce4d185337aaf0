//! Rotating the HMAC key, following the runbook (`docs/operations.md`, "Rotating the HMAC key") on
//! both backends: the secret (moto) or the keyring file, the merchant store and the ledger. Each step
//! is taken by [`HmacRotation`], what `cofre-local hmac-key` runs; after each, the use cases are built
//! on a fresh reader of the keyring, as a new execution environment (or a restarted server) would be.

use cofre_domain::authorizations::{AuthorizationError, Decision, Replay, parse_authorization_request};
use cofre_domain::crypto::{HmacKeyId, KeyedHash};
use cofre_domain::hmac_rotation::{HashCount, HmacRotation, RotationError};
use cofre_domain::merchants::{ConnectionError, ConnectionId, MerchantId, parse_connection_patch};
use cofre_domain::secret::SecretBytes;
use cofre_domain::tenant::{Identity, TenantId};
use cofre_domain::tracking::TrackingId;
use cofre_tests::wiremock::matchers::method;
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, TestServer, account_fixture, authorization_body, merchant_fixture, processors_at};
use serde_json::{Value, json};

const TENANT: &str = "tenant-a";
const MERCHANT: &str = "mid_test_a";

fn caller() -> Identity {
    cofre_tests::caller(TENANT)
}

/// The fixture's accounts and one more, whose card is seeded (and so hashed) mid-rotation.
fn accounts() -> Vec<Value> {
    let mut accounts = account_fixture();
    accounts.push(json!({ "tenant_id": TENANT, "account_id": 1006, "program_id": 1, "document_number": "55555555555",
        "status": "NORMAL", "currency": "BRL", "limit": "100.00",
        "cards": [{ "id": 601, "pan": "4000000000000044", "stored_id": "tok_601", "status": "NORMAL", "expiry": "2030-12", "mode": "CREDIT" }] }));
    accounts
}

/// A 0100 for 1.00 by the card's PAN alone (the account is found by the PAN's look-up).
fn by_pan(pan: &str, tracking: &str) -> Value {
    let mut body = authorization_body(1001, "1");
    body.as_object_mut().unwrap().remove("account_id");
    body["card"] = json!({ "pan": pan });
    body["mode"] = json!("CREDIT");
    body["tracking_id"] = json!(tracking);
    body
}

async fn authorize(stack: &Stack, body: &Value) -> Result<(Value, Option<Replay>), AuthorizationError> {
    let request = parse_authorization_request(body.to_string().as_bytes()).unwrap();
    let Decision { response, replayed } =
        stack.authorizer().authorize(&caller(), &TrackingId::generate(), request).await?;
    Ok((serde_json::from_str(response.get()).unwrap(), replayed))
}

async fn approved(stack: &Stack, body: &Value, account: i64) {
    let (response, _) = authorize(stack, body).await.unwrap();
    assert_eq!(
        (response["status"].as_str(), response["account_id"].as_i64()),
        (Some("APPROVED"), Some(account)),
        "{response}"
    );
}

async fn patch(stack: &Stack, processor: &MockServer, connection: &str, body: Value) -> Result<(), ConnectionError> {
    patch_of(stack, processor, (TENANT, MERCHANT, connection), body).await
}

/// A PATCH of `(tenant, merchant, connection)`.
async fn patch_of(
    stack: &Stack,
    processor: &MockServer,
    (tenant, merchant, connection): (&str, &str, &str),
    body: Value,
) -> Result<(), ConnectionError> {
    let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), 2_000))).await;
    let patch = parse_connection_patch(body.to_string().as_bytes()).unwrap();
    let caller = Identity { tenant: TenantId::parse(tenant).unwrap(), ..caller() };
    stack.connections(settings).patch(&caller, merchant, connection, patch).await.map(|_| ())
}

/// The fixture's connections with credentials (tenant, merchant, connection), each with a request
/// that re-sends its credentials as they are on file.
fn resent() -> [((&'static str, &'static str, &'static str), Value); 3] {
    let full = json!({ "key": "cp_user", "secret": "cp_pass", "mid": "496160873888" });
    [
        ((TENANT, MERCHANT, "midCon_full"), json!({ "secret": "cp_pass", "existingCredentials": full })),
        (
            (TENANT, MERCHANT, "midCon_braintree_partial"),
            json!({ "key": "bt_public_old", "existingCredentials": { "key": "bt_public_old" } }),
        ),
        (
            ("tenant-b", "mid_test_b", "midCon_b"),
            json!({ "secret": "sk_b", "existingCredentials": { "secret": "sk_b" } }),
        ),
    ]
}

async fn fingerprint_of(stack: &Stack, (tenant, merchant, connection): (&str, &str, &str)) -> KeyedHash {
    let merchant = stack
        .merchants
        .merchant(&TenantId::parse(tenant).unwrap(), &MerchantId::parse(merchant).unwrap())
        .await
        .unwrap()
        .unwrap();
    merchant.connection(&ConnectionId::parse(connection).unwrap()).unwrap().credentials.clone().unwrap().fingerprint
}

async fn fingerprint(stack: &Stack, connection: &str) -> KeyedHash {
    fingerprint_of(stack, (TENANT, MERCHANT, connection)).await
}

async fn card_keys(stack: &Stack, account: i64) -> Vec<String> {
    stack.account(TENANT, account).await.cards.iter().map(|c| c.pan_hash.key_id().to_string()).collect()
}

async fn processor() -> MockServer {
    let processor = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&processor).await;
    processor
}

/// A processor that accepts every key, and a stack seeded with the merchant and account fixtures, and
/// the rotation use case over it: where each rotation test starts.
async fn rotation_world(backend: Backend) -> (MockServer, Stack, HmacRotation) {
    let processor = processor().await;
    let stack = Stack::new(backend).await;
    let rotation = stack.hmac_rotation();
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    stack.seed_accounts(&account_fixture()).await;
    (processor, stack, rotation)
}

/// A fresh reader of the keyring: a new execution environment, or a server started again.
fn new_environment(stack: &mut Stack) {
    stack.hmac = stack.fresh_hmac();
}

#[tokio::test]
async fn a_rotation_keeps_every_hash_comparable_moves_them_to_the_new_key_then_retires_the_old_one() {
    for backend in Backend::ALL {
        let (processor, mut stack, rotation) = rotation_world(backend).await;
        let old = rotation.keyring().await.unwrap().current().clone();
        assert_eq!(old.as_str(), if backend == Backend::Aws { "legacy" } else { "k1" }, "{backend:?}");
        let trips = stack.dynamodb_trips.clone();
        let trips = move || trips.count();
        let before = trips();
        approved(&stack, &by_pan("4111111111111111", "decided-before"), 1001).await;
        let trips_with_one_key = trips() - before;

        // 1. Add a key: not current yet, so every reader learns it before anything is hashed with it.
        let new = rotation.add(SecretBytes::new(vec![0xAB; 32])).await.unwrap();
        assert_eq!(new.as_str(), if backend == Backend::Aws { "k1" } else { "k2" }, "{backend:?}");
        new_environment(&mut stack);
        let seeded = stack.seed_accounts_reporting(&accounts()).await;
        assert_eq!((seeded.inserted, seeded.unchanged, seeded.rehashed), (1, 6, 0), "{backend:?}");
        assert_eq!(card_keys(&stack, 1006).await, [old.as_str()], "{backend:?}: still hashed with the current key");

        // 2. Make it current: what is on file still compares under its own key; new hashes use the new one.
        rotation.make_current(&new).await.unwrap();
        new_environment(&mut stack);
        let before = trips();
        approved(&stack, &by_pan("4111111111111111", "after-promotion"), 1001).await;
        assert_eq!(trips() - before, trips_with_one_key, "{backend:?}: a look-up per key, in the same round trip");
        approved(&stack, &by_pan("4000000000000044", "seeded-mid-rotation"), 1006).await;
        let mut named = authorization_body(1001, "1");
        named["card"] = json!({ "pan": "4111111111111111" });
        named["mode"] = json!("CREDIT");
        approved(&stack, &named, 1001).await;
        let (_, replayed) = authorize(&stack, &by_pan("4111111111111111", "decided-before")).await.unwrap();
        assert_eq!(replayed, Some(Replay::SameRequest), "{backend:?}: its digest compared under its own key");
        assert_eq!(fingerprint(&stack, "midCon_stripe").await.key_id(), &old);
        let rotate = json!({ "secret": "sk_new", "existingCredentials": { "secret": "sk_old" } });
        patch(&stack, &processor, "midCon_stripe", rotate.clone()).await.unwrap();
        let rotated = fingerprint(&stack, "midCon_stripe").await;
        assert_eq!(rotated.key_id(), &new, "{backend:?}: a rotation writes with the current key");
        patch(&stack, &processor, "midCon_stripe", rotate).await.unwrap();
        assert_eq!(fingerprint(&stack, "midCon_stripe").await, rotated, "{backend:?}: a retry, answered as done");
        let refused = rotation.retire(&old).await.unwrap_err();
        assert!(
            matches!(refused, RotationError::StillInUse { fingerprints: 3, cards: 7, .. }),
            "{backend:?}: {refused}"
        );
        assert!(matches!(rotation.retire(&new).await, Err(RotationError::Keyring(_))), "{backend:?}: the current key");

        // A PAN on file under the old key cannot be seeded again for another account under the new one.
        let mut taken = accounts()[6].clone();
        taken["account_id"] = json!(1007);
        taken["cards"][0]["pan"] = json!("4111111111111111");
        taken["cards"][0]["id"] = json!(701);
        taken["cards"][0]["stored_id"] = json!("tok_701");
        let refused = stack.account_seeder().seed(&[taken]).await.unwrap_err().to_string();
        assert_eq!(refused, "accounts[0]: card 701: its PAN already belongs to another account", "{backend:?}");
        let nothing = [cofre_domain::authorizations::LedgerKey::Account(
            cofre_domain::authorizations::AccountId::new(1007).unwrap(),
        )];
        let tenant = TenantId::parse(TENANT).unwrap();
        assert!(stack.ledger.get(&tenant, &nothing).await.unwrap()[0].is_none(), "{backend:?}: nothing written");

        // 3. Re-hash. A connection whose credentials are re-sent as they are on file is re-keyed by that
        // request (answered as done, the processor not called); the rest by the re-hash where credentials
        // may be opened (locally), else listed, to be re-sent (AWS). Cards: by seeding their accounts again.
        let [(full, resend_full), rest @ ..] = resent();
        patch_of(&stack, &processor, full, resend_full.clone()).await.unwrap();
        assert_eq!(fingerprint_of(&stack, full).await.key_id(), &new, "{backend:?}: re-keyed by the request");
        let report = rotation.rehash().await.unwrap();
        let (rehashed, listed) = if backend == Backend::Local { (2, 0) } else { (0, 2) };
        assert_eq!(
            (
                report.fingerprints_rehashed,
                report.fingerprints_changed,
                report.fingerprints_left,
                report.stale_connections.len(),
                report.stale_cards.len()
            ),
            (rehashed, 0, 0, listed, 7),
            "{backend:?}"
        );
        assert!(report.stale_cards.iter().all(|c| c.key_id == old), "{backend:?}");
        for stale in &report.stale_connections {
            let (_, body) = rest.iter().find(|(at, _)| at.2 == stale.connection.as_str()).unwrap();
            let at = (stale.tenant.as_str(), stale.merchant.as_str(), stale.connection.as_str());
            patch_of(&stack, &processor, at, body.clone()).await.unwrap();
        }
        for (at, _) in &rest {
            assert_eq!(fingerprint_of(&stack, *at).await.key_id(), &new, "{backend:?}: {at:?}");
        }
        assert_eq!(processor.received_requests().await.unwrap().len(), 1, "{backend:?}: only the rotation's call");
        let seeded = stack.seed_accounts_reporting(&accounts()).await;
        assert_eq!((seeded.inserted, seeded.unchanged, seeded.rehashed), (0, 7, 7), "{backend:?}");
        assert!(card_keys(&stack, 1001).await.iter().chain(&card_keys(&stack, 1006).await).all(|k| *k == new.as_str()));
        let again = rotation.rehash().await.unwrap();
        assert_eq!(
            (again.fingerprints_rehashed, again.stale_connections.len(), again.stale_cards.len()),
            (0, 0, 0),
            "{backend:?}: nothing left"
        );
        let usage = rotation.usage().await.unwrap();
        assert_eq!(usage[&old], HashCount::default(), "{backend:?}");
        assert_eq!(usage[&new], HashCount { fingerprints: 4, cards: 7 }, "{backend:?}");

        // 4. Retire the old key: everything still works without it.
        rotation.retire(&old).await.unwrap();
        new_environment(&mut stack);
        let keyring = stack.hmac.hmac_keyring().await.unwrap();
        assert_eq!(keyring.ids().collect::<Vec<_>>(), [&new], "{backend:?}");
        approved(&stack, &by_pan("4111111111111111", "after-retirement"), 1001).await;
        approved(&stack, &by_pan("4000000000000044", "after-retirement-2"), 1006).await;
        approved(&stack, &named, 1001).await;
        patch(&stack, &processor, "midCon_full", json!({ "mid": "1", "existingCredentials": { "key": "cp_user", "secret": "cp_pass", "mid": "496160873888" } }))
            .await
            .unwrap();
        let wrong = patch(
            &stack,
            &processor,
            "midCon_stripe",
            json!({ "secret": "x", "existingCredentials": { "secret": "sk_old" } }),
        )
        .await;
        assert!(matches!(wrong, Err(ConnectionError::ExistingMismatch)), "{backend:?}: {wrong:?}");
        let (_, replayed) = authorize(&stack, &by_pan("4111111111111111", "decided-before")).await.unwrap();
        assert_eq!(replayed, Some(Replay::Uncompared), "{backend:?}: its digest's key is gone; replayed all the same");
    }
}

#[tokio::test]
async fn a_key_retired_too_early_is_refused_clearly_and_rehashing_or_restoring_it_recovers() {
    for backend in Backend::ALL {
        let (processor, mut stack, rotation) = rotation_world(backend).await;
        let first = rotation.keyring().await.unwrap();
        let old = first.current().clone();
        let new = rotation.add(SecretBytes::new(vec![0xCD; 32])).await.unwrap();
        rotation.make_current(&new).await.unwrap();
        // Retired behind the rotation's back (its own step refuses: hashes still name it).
        let without_old = stack.hmac_keyring.load().await.unwrap().without(&old).unwrap();
        stack.hmac_keyring.save(&without_old).await.unwrap();
        new_environment(&mut stack);
        let before = (stack.account(TENANT, 1001).await, fingerprint(&stack, "midCon_stripe").await);

        // A proof of the credentials on file: a 500 that changes nothing, not a mismatch.
        let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), 2_000))).await;
        let server = TestServer::start_merchants(stack.connections(settings)).await;
        let body = r#"{"secret":"sk_new","existingCredentials":{"secret":"sk_old"}}"#;
        let reply = server.patch_connection(TENANT, MERCHANT, "midCon_stripe", body).await;
        assert_eq!(
            (reply.status, reply.body["message"].as_str()),
            (500, Some("Internal server error. No updates have been made."))
        );
        let failed = patch(&stack, &processor, "midCon_stripe", serde_json::from_str(body).unwrap()).await;
        assert!(matches!(failed, Err(ConnectionError::UnknownHmacKey(_))), "{backend:?}: {failed:?}");
        let merchant = stack
            .merchants
            .merchant(&TenantId::parse(TENANT).unwrap(), &MerchantId::parse(MERCHANT).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            merchant.connection(&ConnectionId::parse("midCon_stripe").unwrap()).unwrap().guard.failures,
            0,
            "{backend:?}: not counted"
        );
        // A card named beside its account: refused, not taken for no card; the ledger is as it was.
        let mut named = authorization_body(1001, "1");
        named["card"] = json!({ "pan": "4111111111111111" });
        named["mode"] = json!("CREDIT");
        let refused = authorize(&stack, &named).await.unwrap_err();
        assert!(
            matches!(&refused, AuthorizationError::Internal(why) if why.contains(&format!("`{old}`"))),
            "{refused:?}"
        );
        // A PAN alone cannot be looked up under a key that is gone: the account is not found.
        let (response, _) = authorize(&stack, &by_pan("4111111111111111", "by-pan")).await.unwrap();
        assert_eq!(response["status"], "DENIED", "{backend:?}: {response}");
        assert_eq!((stack.account(TENANT, 1001).await, fingerprint(&stack, "midCon_stripe").await), before);
        // Seeding again cannot tell the card's PAN: refused, naming the key.
        let error = stack.account_seeder().seed(&account_fixture()).await.unwrap_err().to_string();
        assert!(error.starts_with("accounts[0]: card 501: hashed under HMAC key"), "{error}");

        // Where credentials may be opened (locally), fingerprints are re-hashed from them, without the
        // old key; on AWS they are listed, and, like cards, need the key back to be re-hashed (e.g. from
        // the secret's previous version).
        let report = rotation.rehash().await.unwrap();
        let (rehashed, listed) = if backend == Backend::Local { (4, 0) } else { (0, 4) };
        assert_eq!(
            (report.fingerprints_rehashed, report.stale_connections.len(), report.stale_cards.len()),
            (rehashed, listed, 6),
            "{backend:?}"
        );
        if backend == Backend::Local {
            patch(&stack, &processor, "midCon_stripe", serde_json::from_str(body).unwrap()).await.unwrap();
        }
        let restored =
            first.with_key(new.clone(), SecretBytes::new(vec![0xCD; 32])).unwrap().with_current(&new).unwrap();
        stack.hmac_keyring.save(&restored).await.unwrap();
        new_environment(&mut stack);
        assert_eq!(stack.seed_accounts_reporting(&account_fixture()).await.rehashed, 6, "{backend:?}");
        if backend == Backend::Aws {
            patch(&stack, &processor, "midCon_stripe", serde_json::from_str(body).unwrap()).await.unwrap();
            for (at, body) in resent() {
                patch_of(&stack, &processor, at, body).await.unwrap();
            }
        }
        rotation.retire(&old).await.unwrap();
        new_environment(&mut stack);
        approved(&stack, &named, 1001).await;
        let ids: Vec<HmacKeyId> = stack.hmac.hmac_keyring().await.unwrap().ids().cloned().collect();
        assert_eq!(ids, [new], "{backend:?}");
    }
}

#[tokio::test]
async fn the_cli_takes_each_step_on_a_local_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(cofre_tests::cofre_local_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        let (out, err) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
        (output.status.success(), out, err)
    };
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, json!({ "merchants": merchant_fixture(), "accounts": account_fixture() }).to_string())
        .unwrap();
    assert!(run(&["seed", seed.to_str().unwrap()]).0);
    let (ok, out, _) = run(&["hmac-key", "status"]);
    assert!(ok);
    assert_eq!(out, "current: k1\nk1: 4 fingerprints, 6 cards\n");
    let (ok, out, err) = run(&["hmac-key", "add"]);
    assert!(ok, "{err}");
    assert_eq!(out, "k2\n");
    assert!(err.contains("cofre-local hmac-key promote k2"), "{err}");
    assert!(run(&["hmac-key", "promote", "k2"]).0);
    let (ok, _, err) = run(&["hmac-key", "retire", "k1"]);
    assert!(!ok);
    assert!(err.contains("HMAC key `k1` still hashes 4 connection fingerprint(s) and 6 card PAN(s)"), "{err}");
    let (ok, out, _) = run(&["hmac-key", "rehash"]);
    assert!(ok);
    assert!(out.starts_with("fingerprints: 4 re-hashed, 0 changed"), "{out}");
    assert!(
        out.contains("cards hashed under another key: 6") && out.contains("tenant tenant-a account 1001 card 501: k1"),
        "{out}"
    );
    let (ok, out, _) = run(&["seed", seed.to_str().unwrap()]);
    assert!(ok && out.contains("cards re-hashed under the current HMAC key: 6"), "{out}");
    let (ok, out, err) = run(&["hmac-key", "retire", "k1"]);
    assert!(ok, "{err}");
    assert_eq!(out, "k1 retired\n");
    assert_eq!(run(&["hmac-key", "status"]).1, "current: k2\nk2: 4 fingerprints, 6 cards\n");
    let (ok, _, err) = run(&["hmac-key", "promote", "k 9"]);
    assert!(!ok && err.contains("is not a key id"), "{err}");
    // The keyring file never shows a key in any output.
    let keyring: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("keyring.json")).unwrap()).unwrap();
    let key = keyring["hmac_keyring"]["keys"]["k2"].as_str().unwrap().to_owned();
    for args in [&["hmac-key", "status"][..], &["hmac-key", "rehash"][..]] {
        let (_, out, err) = run(args);
        assert!(!out.contains(&key) && !err.contains(&key));
    }
}

/// A grouped keyring's value waits from the group's joint read until a request needs it, which may
/// be long after (a rotation's first requests can fail before they hash anything). Taken then, it
/// must count its age from that read: held as new, a keyring older than a rotation step would be
/// trusted for another refresh period, past the wait the rotation runbook counts on.
#[tokio::test]
async fn a_grouped_keyring_taken_after_its_period_is_read_again() {
    use cofre_aws::{SecretGroup, SecretsManagerEndpointSettings, SecretsManagerHmacKey};
    use cofre_domain::crypto::{HmacKeySource, HmacKeyring};
    use cofre_domain::endpoints::EndpointSettingsSource;
    use cofre_domain::secret::SecretString;
    let client = aws_sdk_secretsmanager::Client::new(&cofre_tests::moto_sdk_config());
    let (old, new) = ("o".repeat(48), "n".repeat(48));
    let keyring_secret = cofre_tests::create_secret(&client, &old).await;
    let settings_secret = cofre_tests::create_secret(&client, &processors_at("http://127.0.0.1:9", 1_000)).await;
    let group = SecretGroup::new(client.clone(), [&keyring_secret, &settings_secret]);
    let period = std::time::Duration::from_millis(200);
    let keyring = SecretsManagerHmacKey::grouped(&group, &keyring_secret).refreshed_every(period);
    let settings = SecretsManagerEndpointSettings::grouped(&group, &settings_secret);

    settings.settings().await.unwrap();
    client.put_secret_value().secret_id(&keyring_secret).secret_string(&new).send().await.unwrap();
    tokio::time::sleep(period + std::time::Duration::from_millis(100)).await;

    let hash = |keyring: &HmacKeyring| keyring.hash("d", b"m");
    let expected = hash(&HmacKeyring::from_secret(&SecretString::from(new.as_str())).unwrap());
    let stale = hash(&HmacKeyring::from_secret(&SecretString::from(old.as_str())).unwrap());
    let taken = hash(&keyring.hmac_keyring().await.unwrap());
    assert!(!taken.matches(&stale), "the joint read's keyring, older than its period, was trusted as new");
    assert!(taken.matches(&expected));
}
