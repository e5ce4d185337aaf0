//! The patch-merchant-connection request path on the embedded adapters, step by step and whole:
//! parse → read merchant → fingerprint `existingCredentials` (constant-time compare) → seal (local
//! keyring) → fingerprint the new set → conditional write. The processor call is left out: it is
//! network time, counted by the round-trip test instead.

// Bench code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cofre_domain::clock::SystemClock;
use cofre_domain::crypto::{HmacKeySource, seal_verified};
use cofre_domain::merchants::{
    ConnectionId, ConnectionStatus, ConnectionWrite, MerchantId, MerchantSeeder, MerchantStore,
    SealedConnectionCredentials, connection_context, fingerprint, parse_connection_patch,
};
use cofre_domain::tenant::TenantId;
use cofre_local::{EmbeddedStore, LocalKeyring};
use criterion::{Criterion, criterion_group, criterion_main};

const BODY: &[u8] = br#"{"secret":"sk_live_new_0123456789abcdefghij","existingCredentials":{"secret":"sk_old"}}"#;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keyring = Arc::new(LocalKeyring::open_or_create(dir.path()).unwrap());
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let tenant = TenantId::parse("bench-tenant").unwrap();
    let merchants = 2_000_u64;
    let records: Vec<serde_json::Value> = (0..merchants)
        .map(|i| {
            serde_json::json!({
                "tenant_id": "bench-tenant", "id": format!("mid_bench_{i}"), "name": "Bench", "tin": "123456789",
                "connections": [{ "id": "midCon_stripe", "processor": "Stripe", "status": "Active", "credentials": { "secret": "sk_old" } }]
            })
        })
        .collect();
    let seeder = MerchantSeeder::new(
        Arc::clone(&store) as _,
        Arc::clone(&keyring) as _,
        Arc::clone(&keyring) as _,
        Arc::new(SystemClock),
    );
    runtime.block_on(seeder.seed(&records)).unwrap();
    let hmac_key = runtime.block_on(keyring.hmac_keyring()).unwrap();

    let mut group = c.benchmark_group("patch_merchant_connection");
    group.bench_function("parse", |b| b.iter(|| parse_connection_patch(std::hint::black_box(BODY)).unwrap()));
    let patch = parse_connection_patch(BODY).unwrap();
    let existing = patch.existing.clone().unwrap();
    let (m0, c0) = (MerchantId::parse("mid_bench_0").unwrap(), ConnectionId::parse("midCon_stripe").unwrap());
    group.bench_function("fingerprint_and_compare", |b| {
        let on_file = fingerprint(&hmac_key, &tenant, &m0, &c0, &existing);
        b.iter(|| fingerprint(&hmac_key, &tenant, &m0, &c0, std::hint::black_box(&existing)).matches(&on_file))
    });

    // Each iteration rotates a merchant that still holds `sk_old`: a create-like first rotation.
    let next = AtomicU64::new(0);
    group.bench_function("whole_path_embedded", |b| {
        b.to_async(&runtime).iter(|| {
            let i = next.fetch_add(1, Ordering::Relaxed) % merchants;
            let (store, keyring, tenant, hmac_key) = (&store, &keyring, &tenant, &hmac_key);
            async move {
                let patch = parse_connection_patch(BODY).unwrap();
                let merchant_id = MerchantId::parse(&format!("mid_bench_{i}")).unwrap();
                let connection_id = ConnectionId::parse("midCon_stripe").unwrap();
                let merchant = store.merchant(tenant, &merchant_id).await.unwrap().unwrap();
                let connection = merchant.connection(&connection_id).unwrap();
                let on_file = connection.credentials.as_ref().unwrap();
                let claimed =
                    fingerprint(hmac_key, tenant, &merchant_id, &connection_id, patch.existing.as_ref().unwrap());
                let _matches = claimed.matches(&on_file.fingerprint);
                let merged = patch.existing.clone().unwrap().overlaid_with(&patch.new);
                let canonical = merged.canonical_bytes();
                let context = connection_context(tenant, &merchant_id, &connection_id);
                let sealed = seal_verified(keyring.as_ref(), &context, canonical.expose()).await.unwrap();
                let new_fingerprint = fingerprint(hmac_key, tenant, &merchant_id, &connection_id, &merged);
                let write = ConnectionWrite {
                    connection_id,
                    expected_version: connection.version,
                    expected_fingerprint: Some(on_file.fingerprint.clone()),
                    credentials: SealedConnectionCredentials {
                        sealed,
                        fingerprint: new_fingerprint,
                        fields: merged.fields(),
                    },
                    status: ConnectionStatus::Active,
                    modified_on: time::OffsetDateTime::now_utc(),
                    modified_by: "API Key: Bench".into(),
                };
                // Later passes over the same merchant meet a newer version: the conditional write
                // refuses them, which costs the same transaction.
                let _ = store.write_connection(tenant, &merchant_id, &write).await;
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
