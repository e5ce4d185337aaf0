//! The create-credential request path on the embedded adapters, step by step and whole:
//! parse → validate → seal (local keyring) → verify → store (SQLite, fsync on commit).
//! The partner call is left out: it is network time, measured by the round-trip count instead.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use cofre_domain::credentials::{
    CredentialSlot, CredentialStore, CredentialWrite, ProxyValue, parse_credential_request,
};
use cofre_domain::crypto::seal_verified;
use cofre_domain::ids::RandomIds;
use cofre_domain::tenant::TenantId;
use cofre_local::{EmbeddedStore, LocalKeyring};
use criterion::{Criterion, criterion_group, criterion_main};

const BODY: &[u8] = br#"{"key":"Tc84Hi3CRyAHFBNIvbc8CuSuvHuGibjf","provider":"BTG","type":"PIX","provider_data":{"client_id":"Jk10014812-4785-1293-cded-3683ce1fdwjdj"}}"#;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keyring = LocalKeyring::open_or_create(dir.path()).unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let ids = RandomIds::default();
    let counter = AtomicU64::new(0);
    let tenant = TenantId::parse("bench-tenant").unwrap();

    let mut group = c.benchmark_group("create_credential");
    group.bench_function("parse_and_validate", |b| {
        b.iter(|| parse_credential_request(std::hint::black_box(BODY)).unwrap())
    });

    let request = parse_credential_request(BODY).unwrap();
    let slot =
        CredentialSlot { tenant: tenant.clone(), provider: request.provider, credential_type: request.credential_type };
    let context = slot.encryption_context();
    group.bench_function("seal_and_verify_local_keyring", |b| {
        b.to_async(&runtime)
            .iter(|| async { seal_verified(&keyring, &context, request.key.expose().as_bytes()).await.unwrap() })
    });

    let path = |unique: u64| {
        let (keyring, store, ids, tenant) = (&keyring, &store, &ids, &tenant);
        async move {
            let request = parse_credential_request(BODY).unwrap();
            // A fresh tenant per iteration: every iteration is a create, as the first request of a slot.
            let tenant = TenantId::parse(&format!("{tenant}-{unique}")).unwrap();
            let slot = CredentialSlot { tenant, provider: request.provider, credential_type: request.credential_type };
            let sealed_key =
                seal_verified(keyring, &slot.encryption_context(), request.key.expose().as_bytes()).await.unwrap();
            let write = CredentialWrite {
                slot,
                proxy: ProxyValue::mint(ids),
                provider_data: request.provider_data,
                sealed_key,
                at: time::OffsetDateTime::now_utc(),
                tracking_id: "bench".to_owned(),
            };
            store.put(&write).await.unwrap();
        }
    };
    group.bench_function("whole_path_embedded", |b| {
        b.to_async(&runtime).iter(|| path(counter.fetch_add(1, Ordering::Relaxed)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
