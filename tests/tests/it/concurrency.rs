//! Races on one item, on both stores: 100 concurrent replaces of one credential slot, 50 rotations
//! of one connection, 100 authorizations on one account, authorizations and advices on one account,
//! one `tracking_id` sent 50 times, settlements and reversal advices of one hold.

use cofre_domain::credentials::{CredentialSlot, CredentialType, Provider};
use cofre_domain::tenant::TenantId;
use cofre_tests::wiremock::matchers::{method, path};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, TestServer, credential_body, partners_at};

const REPLACES: usize = 100;

/// 100 concurrent replaces of one slot over HTTP: a replace is last-writer-wins once the partner
/// accepted the key, so every one answers 201, each write takes the next version (101 at the end:
/// 100 distinct versions), and the slot holds one whole request's key and `tracking_id`.
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

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REPLACES {
        let server = server.clone();
        tasks.spawn(async move {
            let body = credential_body(&format!("key-concurrent-{i:03}"), "CELCOIN", "PIX");
            (i, server.post_credential("tenant-a", &body, &format!("replace-{i:03}")).await)
        });
    }
    let replies = tasks.join_all().await;

    let failed: Vec<_> = replies.iter().filter(|(_, r)| r.status != 201).collect();
    assert!(
        failed.is_empty(),
        "{backend:?}: every replace answers 201; {} did not: {:?}",
        failed.len(),
        failed.first()
    );
    for (_, reply) in &replies {
        assert_eq!(reply.body["proxy"], first.body["proxy"], "{backend:?}: a replace keeps the slot's proxy");
        assert_eq!(reply.body["replaced"], true, "{backend:?}");
    }
    let (key, version) = stack.stored_key("tenant-a", Provider::Celcoin, CredentialType::Pix).await.unwrap();
    assert_eq!(version, 1 + REPLACES as u64, "{backend:?}: every replace took its own version");
    let slot = CredentialSlot {
        tenant: TenantId::parse("tenant-a").unwrap(),
        provider: Provider::Celcoin,
        credential_type: CredentialType::Pix,
    };
    let stored = stack.store.get(&slot).await.unwrap().unwrap();
    let last = stored.tracking_id.strip_prefix("replace-").expect("written by one of the replaces");
    assert_eq!(key, format!("key-concurrent-{last}"), "{backend:?}: the key and tracking_id of one whole request");
    println!("{backend:?}: {REPLACES} concurrent replaces: {REPLACES} x 201, final version {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_replaces_on_the_embedded_store() {
    concurrent_replaces(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_replaces_on_dynamodb() {
    concurrent_replaces(Backend::Aws).await;
}

/// 50 concurrent rotations presenting the same, correct `existingCredentials` with different new
/// secrets: the conditional write on version and fingerprint lets exactly one through.
async fn concurrent_rotations(backend: Backend) {
    use cofre_tests::{merchant_fixture, processors_at};
    const ROTATIONS: usize = 50;
    let processor = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/account"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&processor)
        .await;
    let stack = Stack::new(backend).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let settings = stack.partner_settings(Some(&processors_at(&processor.uri(), 5_000))).await;
    let server = TestServer::start_merchants(stack.connections(settings)).await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ROTATIONS {
        let server = server.clone();
        tasks.spawn(async move {
            let body = serde_json::json!({ "secret": format!("sk_rotated_{i:02}"), "existingCredentials": { "secret": "sk_old" } });
            (i, server.patch_connection("tenant-a", "mid_test_a", "midCon_stripe", &body.to_string()).await)
        });
    }
    let replies = tasks.join_all().await;
    let winners: Vec<usize> = replies.iter().filter(|(_, r)| r.status == 200).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "{backend:?}: exactly one rotation wins: {winners:?}");
    // A loser that read before the winner committed fails the conditional write: 409. One that read
    // after presents credentials no longer on file: a failed proof, counted, and once counting has
    // started, concurrent proofs get one comparison per count, the rest 429 `Retry-After: 1`.
    for (_, reply) in replies.iter().filter(|(_, r)| r.status != 200) {
        assert!(matches!(reply.status, 409 | 429), "{backend:?}: every loser gets a documented 409 or 429: {reply:?}");
    }
    let (stored, version, status) = stack.stored_connection("tenant-a", "mid_test_a", "midCon_stripe").await;
    let expected = serde_json::json!({ "secret": format!("sk_rotated_{:02}", winners[0]) });
    assert_eq!(
        (stored, version, status.as_str()),
        (Some(expected), 2, "Active"),
        "{backend:?}: the winner's set is on file"
    );
    let calls = processor.received_requests().await.unwrap().len();
    println!("{backend:?}: 1/{ROTATIONS} rotations won, {calls} processor calls");
}

/// Concurrent first sets on a connection with nothing on file: the first write wins, the rest find
/// credentials where they expected none and change nothing.
async fn concurrent_first_sets(backend: Backend) {
    use cofre_tests::{merchant_fixture, processors_at};
    let processor = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/merchant"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&processor)
        .await;
    let stack = Stack::new(backend).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let server = TestServer::start_merchants(
        stack.connections(stack.partner_settings(Some(&processors_at(&processor.uri(), 5_000))).await),
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let server = server.clone();
        tasks.spawn(async move {
            let body = serde_json::json!({ "secret": format!("first_{i:02}") }).to_string();
            (i, server.patch_connection("tenant-a", "mid_test_a", "midCon_affinipay", &body).await.status)
        });
    }
    let replies = tasks.join_all().await;
    let winners: Vec<_> = replies.iter().filter(|(_, s)| *s == 200).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "{backend:?}: {replies:?}");
    // A loser that read before the winner committed: 409. One that read after finds credentials on
    // file: its set is compared with them (a retry of the winner's would be answered as done), fails,
    // and is counted, so from then on concurrent comparisons get one per count and the rest 429, as in
    // the rotations above.
    assert!(replies.iter().all(|(_, s)| matches!(*s, 200 | 400 | 409 | 429)), "{backend:?}: {replies:?}");
    let (stored, version, _) = stack.stored_connection("tenant-a", "mid_test_a", "midCon_affinipay").await;
    assert_eq!((stored, version), (Some(serde_json::json!({ "secret": format!("first_{:02}", winners[0]) })), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_first_sets_on_both_stores() {
    for backend in Backend::ALL {
        concurrent_first_sets(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_rotations_on_the_embedded_store() {
    concurrent_rotations(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_rotations_on_dynamodb() {
    concurrent_rotations(Backend::Aws).await;
}

/// 100 concurrent 0100s of 10.00 on 100.00 available: exactly 10 approved, 90 denied with 51,
/// 0.00 left, 10 approval and 90 denial event pairs.
async fn hundred_authorizations(backend: Backend) {
    let stack = Stack::new(backend).await;
    let account = serde_json::json!({ "tenant_id": "tenant-a", "account_id": 7001, "program_id": 1, "document_number": "70010000000",
        "status": "NORMAL", "currency": "BRL", "limit": "100.00", "cards": [] });
    stack.seed_accounts(&[account]).await;
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let server = server.clone();
        tasks.spawn(async move {
            let body = cofre_tests::authorization_body(7001, "10.00");
            let mut body = body;
            body["tracking_id"] = serde_json::json!(format!("race-{i:03}"));
            server.authorize("tenant-a", None, &body).await
        });
    }
    let replies = tasks.join_all().await;
    let approved = replies.iter().filter(|r| r.body["status"] == "APPROVED").count();
    let denied: Vec<_> = replies.iter().filter(|r| r.body["status"] == "DENIED").collect();
    assert!(replies.iter().all(|r| r.status == 200), "{backend:?}: every request got a decision");
    assert_eq!((approved, denied.len()), (10, 90), "{backend:?}");
    assert!(denied.iter().all(|r| r.body["response_code"] == "51" && r.body["denial_code"] == "NSF"), "{backend:?}");
    assert_eq!(stack.account("tenant-a", 7001).await.available, 0, "{backend:?}: 0.00 left, never below");
    let events = stack.events().await;
    let platform = |category: &str| {
        events.iter().filter(|e| e["domain"] == "platform-authorization" && e["data"]["category"] == category).count()
    };
    let payment = |category: &str| {
        events.iter().filter(|e| e["domain"] == "payment-methods" && e["data"]["category"] == category).count()
    };
    assert_eq!((platform("AUTHORIZATION"), platform("DENIED")), (10, 90), "{backend:?}");
    assert_eq!((payment("AUTHORIZATION"), payment("DECLINED")), (10, 90), "{backend:?}");
    assert_eq!(events.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_authorizations_on_the_embedded_store() {
    hundred_authorizations(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_authorizations_on_dynamodb() {
    hundred_authorizations(Backend::Aws).await;
}

/// 50 concurrent requests sharing one tracking_id, each with its own body (amounts 10.00 to 10.49, as a
/// network's retransmissions differ): one effect, one event pair, and every answer that is a decision
/// is the one recorded (the reference: "the same request ... return the same result"); the others are
/// the documented in-flight answer.
async fn one_tracking_id_fifty_bodies(backend: Backend) {
    let stack = Stack::new(backend).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let mut body = cofre_tests::authorization_body(1001, &format!("10.{i:02}"));
        body["tracking_id"] = serde_json::json!("the-same-one");
        let server = server.clone();
        tasks.spawn(async move { server.authorize("tenant-a", None, &body).await });
    }
    let replies = tasks.join_all().await;
    let decided: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert!(replies.iter().all(|r| r.status == 200 || (r.status == 409 && r.code() == "IN_PROGRESS")), "{backend:?}");
    assert!(!decided.is_empty(), "{backend:?}");
    assert!(decided.windows(2).all(|pair| pair[0].text == pair[1].text), "{backend:?}: identical answers");
    let replays = decided.iter().filter(|r| r.headers.contains_key("idempotent-replayed")).count();
    assert_eq!(replays, decided.len() - 1, "{backend:?}: one decision, every other answer marked a replay");
    assert_eq!(decided[0].body["status"], "APPROVED");
    let spent = 100_000 - stack.account("tenant-a", 1001).await.available;
    assert!((1_000..1_050).contains(&spent), "{backend:?}: one effect, of one of the bodies: {spent}");
    // The amount as answered (exact decimal text, not a float's rendering of it).
    let answered = decided[0].text.split("\"amount\":").nth(1).and_then(|rest| rest.split(',').next());
    assert_eq!(answered, Some(format!("{}.{:02}", spent / 100, spent % 100).as_str()), "{backend:?}");
    assert_eq!(stack.events().await.len(), 2, "{backend:?}: one event pair");
    println!(
        "{backend:?}: 50 bodies, one tracking_id: {} decided answers (identical), {} in flight",
        decided.len(),
        replies.len() - decided.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_bodies_with_one_tracking_id_have_one_effect_on_both_stores() {
    for backend in Backend::ALL {
        one_tracking_id_fifty_bodies(backend).await;
    }
}

/// A confirmation and a cancellation of the same hold, racing: whatever the order, the hold is settled
/// once and the ledger adds up.
async fn confirm_and_cancel_race(backend: Backend) {
    let stack = Stack::new(backend).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    for round in 0..10 {
        let hold = server.authorize("tenant-a", None, &cofre_tests::authorization_body(1001, "10.00")).await;
        let id = hold.body["authorization_id"].as_u64().unwrap();
        let confirm = serde_json::json!({ "mti": "0202", "currency": "BRL", "network": "VISA", "original_authorization_id": id, "amount": 4 });
        let cancel =
            serde_json::json!({ "mti": "0400", "currency": "BRL", "network": "VISA", "original_authorization_id": id });
        let (a, b) = (server.clone(), server.clone());
        let (confirmed, cancelled) =
            tokio::join!(async move { a.authorize("tenant-a", None, &confirm).await }, async move {
                b.authorize("tenant-a", None, &cancel).await
            });
        let available = stack.account("tenant-a", 1001).await.available;
        match (confirmed.body["status"].as_str(), cancelled.body["status"].as_str()) {
            // Confirmed 4.00 (6.00 released), then the cancellation released the 4.00 confirmed.
            (Some("APPROVED"), Some("APPROVED")) => assert_eq!(available, 100_000, "{backend:?} round {round}"),
            // Cancelled first: nothing left to confirm.
            (Some("DENIED"), Some("APPROVED")) => assert_eq!(available, 100_000, "{backend:?} round {round}"),
            other => panic!("{backend:?} round {round}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirmations_and_cancellations_of_one_hold_race_safely() {
    for backend in Backend::ALL {
        confirm_and_cancel_race(backend).await;
    }
}

/// 20 authorizations (0100) and 20 authorization advices (0120) of 10.00, concurrent, on 100.00: every
/// advice posts (the network approved it), no authorization is approved that the balance does not
/// cover, and no posting is lost: available = 100.00 − 10.00 × every approval, all of it held. The
/// decisions LEDGER found covered are at most ten (each was checked again at commit, and nothing here
/// gives money back); every other advice states its overdraft.
async fn advices_and_authorizations(backend: Backend) {
    let stack = Stack::new(backend).await;
    let account = serde_json::json!({ "tenant_id": "tenant-a", "account_id": 7002, "program_id": 1, "document_number": "70020000000",
        "status": "NORMAL", "currency": "BRL", "limit": "100.00", "cards": [] });
    stack.seed_accounts(&[account]).await;
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let server = server.clone();
        tasks.spawn(async move {
            let mut body = cofre_tests::authorization_body(7002, "10.00");
            let mti = if i % 2 == 0 { "0100" } else { "0120" };
            (body["mti"], body["tracking_id"]) = (serde_json::json!(mti), serde_json::json!(format!("mixed-{i:02}")));
            (mti, server.authorize("tenant-a", None, &body).await)
        });
    }
    let replies = tasks.join_all().await;
    assert!(replies.iter().all(|(_, r)| r.status == 200), "{backend:?}: every request got a decision");
    let ledger = |r: &cofre_tests::Reply| {
        let results = r.body["validation_results"].as_array().unwrap();
        results.iter().find(|v| v["name"] == "LEDGER").unwrap().clone()
    };
    let (mut approved, mut covered, mut overdrawn) = (0, 0, 0);
    for (mti, reply) in &replies {
        match (*mti, reply.body["status"].as_str(), ledger(reply)["reason"].as_str()) {
            ("0100" | "0120", Some("APPROVED"), Some("SUFFICIENT_FUNDS")) => covered += 1,
            ("0120", Some("APPROVED"), Some("INSUFFICIENT_FUNDS")) => {
                assert_eq!(ledger(reply)["additional_data"]["forced"], true, "{backend:?}");
                overdrawn += 1;
            }
            ("0100", Some("DENIED"), Some("INSUFFICIENT_FUNDS")) => {
                assert_eq!(reply.body["response_code"], "51");
                continue;
            }
            other => panic!("{backend:?}: {other:?} {}", reply.text),
        }
        approved += 1;
    }
    assert!(covered <= 10, "{backend:?}: {covered} judged covered on 100.00");
    assert_eq!(replies.iter().filter(|(mti, r)| *mti == "0120" && r.body["status"] == "APPROVED").count(), 20);
    let account = stack.account("tenant-a", 7002).await;
    assert_eq!(account.available, 10_000 - 1_000 * approved, "{backend:?}: no posting lost");
    assert_eq!(account.held, 1_000 * approved, "{backend:?}: every approval holds its 10.00");
    assert_eq!(stack.events().await.len(), 80, "{backend:?}: one event pair per decision");
    println!(
        "{backend:?}: 20 x 0100 + 20 x 0120 on 100.00: {approved} approved ({covered} covered, {overdrawn} advices overdrawn)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn advices_and_authorizations_racing_on_one_account_never_lose_a_posting() {
    for backend in Backend::ALL {
        advices_and_authorizations(backend).await;
    }
}

/// A cancellation, a reversal advice and a partial confirmation of one authorization advice's 10.00
/// hold, racing: whatever the order, no more than the 10.00 comes back, and all of it does.
async fn reversal_and_cancellation_race(backend: Backend) {
    let stack = Stack::new(backend).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let server = TestServer::start_authorizations(stack.authorizer()).await;
    for round in 0..8 {
        let mut hold = cofre_tests::authorization_body(1001, "10.00");
        hold["mti"] = serde_json::json!("0120");
        let id = server.authorize("tenant-a", None, &hold).await.body["authorization_id"].as_u64().unwrap();
        let settle = |mti: &str, amount: Option<u64>| {
            let mut body = serde_json::json!({ "mti": mti, "currency": "BRL", "network": "VISA", "original_authorization_id": id });
            if let Some(amount) = amount {
                body["amount"] = serde_json::json!(amount);
            }
            let server = server.clone();
            async move { server.authorize("tenant-a", None, &body).await }
        };
        let (cancelled, reversed, confirmed) =
            tokio::join!(settle("0400", None), settle("0420", None), settle("0202", Some(4)));
        let released = |r: &cofre_tests::Reply| {
            r.text.split("\"amount\":").nth(1).and_then(|a| a.split(',').next()).unwrap().to_owned()
        };
        assert_eq!(reversed.body["status"], "APPROVED", "{backend:?} round {round}: an advice is acknowledged");
        let acted = [&cancelled, &reversed]
            .into_iter()
            .filter(|r| r.body["status"] == "APPROVED" && released(r) != "0.00")
            .count();
        assert!(acted >= 1, "{backend:?} round {round}: something gave it back");
        assert!(matches!(confirmed.body["status"].as_str(), Some("APPROVED" | "DENIED")));
        assert_eq!(stack.account("tenant-a", 1001).await.available, 100_000, "{backend:?} round {round}");
        assert_eq!(stack.account("tenant-a", 1001).await.held, 0, "{backend:?} round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reversal_advices_cancellations_and_confirmations_of_one_hold_race_safely() {
    for backend in Backend::ALL {
        reversal_and_cancellation_race(backend).await;
    }
}
