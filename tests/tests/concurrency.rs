//! 20 concurrent replaces of one slot: the conditional write lets every successful replace count
//! once and leaves one whole request's key, on both stores.

use cofre::credentials::{CredentialType, Provider};
use cofre_tests::wiremock::matchers::{method, path};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, TestServer, credential_body, partners_at};

const REPLACES: usize = 20;

async fn concurrent_replaces(backend: Backend) {
    let partner = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v5/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&partner)
        .await;
    let stack = Stack::new(backend).await;
    let server =
        TestServer::start(stack.vault(stack.partner_settings(Some(&partners_at(&partner.uri(), 5_000))).await)).await;
    let first = server.post_credential("tenant-a", &credential_body("key-initial", "CELCOIN", "PIX"), "t").await;
    assert_eq!(first.status, 201);

    let keys: Vec<String> = (0..REPLACES).map(|i| format!("key-concurrent-{i:02}")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for key in keys.clone() {
        let server = server.clone();
        tasks.spawn(
            async move { server.post_credential("tenant-a", &credential_body(&key, "CELCOIN", "PIX"), "t").await },
        );
    }
    let replies = tasks.join_all().await;

    let succeeded = replies.iter().filter(|r| r.status == 200).count();
    for reply in &replies {
        assert!(reply.status == 200 || reply.code() == "EBAA0011", "{backend:?}: a loser fails cleanly: {reply:?}");
        if reply.status == 200 {
            assert_eq!(reply.body["proxy"], first.body["proxy"], "{backend:?}: one proxy for the slot");
        }
    }
    let (key, version) = stack.stored_key("tenant-a", Provider::Celcoin, CredentialType::Pix).await.unwrap();
    assert!(keys.contains(&key), "{backend:?}: the slot holds one whole submitted key, got {key:?}");
    assert_eq!(version, 1 + succeeded as u64, "{backend:?}: the version counts every successful replace");
    assert!(succeeded > 0, "{backend:?}: someone wins");
    println!("{backend:?}: {succeeded}/{REPLACES} concurrent replaces succeeded, final version {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_replaces_on_the_embedded_store() {
    concurrent_replaces(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_replaces_on_dynamodb() {
    concurrent_replaces(Backend::Aws).await;
}
