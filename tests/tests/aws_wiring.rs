//! The AWS wiring the Lambda `main` uses (`cofre_aws::wiring`), driven from the environment as on Lambda,
//! through `cofre-local serve --backend aws`'s builder, against moto: configuration by
//! environment variables, `AWS_ENDPOINT_URL` honoured, the stored item really in DynamoDB, sealed
//! under the KMS key.

use cofre_domain::credentials::{CredentialSlot, CredentialStore, CredentialType, Provider};
use cofre_domain::tenant::TenantId;
use cofre_local::server::{Backend, LocalOptions, build};
use cofre_tests::wiremock::matchers::{method, path};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{
    Reply, RoundTrips, create_kms_key, create_table, dynamodb_client, gateway_partners_at, kms_client, moto_endpoint,
    moto_sdk_config,
};

#[tokio::test]
async fn the_aws_backend_is_configured_from_the_environment() {
    let partner = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v5/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"access_token":"wired-token","expires_in":300}"#))
        .expect(3)
        .mount(&partner)
        .await;
    Mock::given(method("GET"))
        .and(path("/baas/v1/accounts/123/balance"))
        .and(cofre_tests::wiremock::matchers::header("authorization", "Bearer wired-token"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"available":"10.00"}"#))
        .expect(2)
        .mount(&partner)
        .await;
    let sdk = moto_sdk_config();
    let trips = RoundTrips::default();
    let (dynamodb, kms) = (dynamodb_client(&sdk, &trips), kms_client(&sdk, &trips));
    let table = create_table(&dynamodb).await;
    let merchants_table = create_table(&dynamodb).await;
    let (ledger_table, events_table) = (create_table(&dynamodb).await, create_table(&dynamodb).await);
    let key_id = create_kms_key(&kms).await;
    let secrets = cofre_tests::secrets_client(&sdk, &trips);
    let hmac_secret = cofre_tests::create_secret(&secrets, &"k".repeat(40)).await;
    let processor_secret =
        cofre_tests::create_secret(&secrets, &cofre_tests::processors_at(&partner.uri(), 2_000)).await;
    Mock::given(method("GET"))
        .and(path("/v1/account"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&partner)
        .await;
    let secret = format!("cofre-wiring-{}", uuid::Uuid::new_v4().simple());
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret)
        .secret_string(gateway_partners_at(&partner.uri(), 2_000))
        .send()
        .await
        .unwrap();

    // SAFETY: this test binary has this one test, which sets the environment before any other
    // thread reads it.
    unsafe {
        for (name, value) in [
            ("AWS_ENDPOINT_URL", moto_endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("CREDENTIALS_TABLE", table.clone()),
            ("DATA_KEY_ID", key_id.clone()),
            ("PARTNER_CONFIG_SECRET", secret),
            ("MERCHANTS_TABLE", merchants_table.clone()),
            ("PROCESSOR_CONFIG_SECRET", processor_secret),
            ("HMAC_KEY_SECRET", hmac_secret),
            ("LEDGER_TABLE", ledger_table.clone()),
            ("EVENTS_TABLE", events_table.clone()),
        ] {
            std::env::set_var(name, value);
        }
    }
    let data_dir = tempfile::tempdir().unwrap();
    let app = build(&LocalOptions {
        data_dir: data_dir.path().to_owned(),
        backend: Backend::Aws,
        partners_file: None,
        processors_file: None,
        webhooks: Vec::new(),
        delivery: cofre_local::webhooks::DeliveryOptions::DEFAULT,
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app.router).await.unwrap() });
    let token =
        app.tokens.mint(&TenantId::parse("tenant-aws").unwrap(), None, std::time::Duration::from_secs(60)).unwrap();
    let client = reqwest::Client::new();

    let body = r#"{"key":"aws-wired-key","provider":"CELCOIN","type":"BAAS","provider_data":{"client_id":"c"}}"#;
    let reply = Reply::read(
        client.post(format!("{base}/banking-auth/v1/credentials")).bearer_auth(&token).body(body).send().await.unwrap(),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");

    let store = cofre_aws::DynamoCredentialStore::new(dynamodb.clone(), &table);
    let slot = CredentialSlot {
        tenant: TenantId::parse("tenant-aws").unwrap(),
        provider: Provider::Celcoin,
        credential_type: CredentialType::Baas,
    };
    let stored = store.get(&slot).await.unwrap().expect("the item is in the DynamoDB table");
    let keys = cofre_aws::KmsKeyService::new(kms, &key_id);
    let opened = cofre_domain::crypto::open(&keys, &slot.encryption_context(), &stored.sealed_key).await.unwrap();
    assert_eq!(opened.expose(), b"aws-wired-key");
    assert_eq!(stored.proxy.as_str(), reply.body["proxy"].as_str().unwrap());

    // The partner gateway on the same wiring: store → use → audit → revoke → refused.
    let proxy = stored.proxy.as_str();
    let balance = format!("{base}/banking-auth/v1/proxy/{proxy}/baas/v1/accounts/123/balance");
    for _ in 0..2 {
        let used = Reply::read(client.get(&balance).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!((used.status, used.text.as_str()), (200, r#"{"available":"10.00"}"#), "{used:?}");
    }
    let uses_url = format!("{base}/banking-auth/v1/credentials/{proxy}/uses");
    let uses = Reply::read(client.get(&uses_url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(uses.body["uses"].as_array().map(Vec::len), Some(2), "{uses:?}");
    assert_eq!(uses.body["uses"][0]["route"], "/baas/v1/accounts/{account}/balance");
    let revoke_url = format!("{base}/banking-auth/v1/credentials/{proxy}");
    assert_eq!(client.delete(&revoke_url).bearer_auth(&token).send().await.unwrap().status(), 200);
    let refused = Reply::read(client.get(&balance).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((refused.status, refused.code()), (404, "EBAA0101"));
    let created_again = Reply::read(
        client.post(format!("{base}/banking-auth/v1/credentials")).bearer_auth(&token).body(body).send().await.unwrap(),
    )
    .await;
    assert_eq!(created_again.status, 201, "a revoked slot is created afresh");
    assert_ne!(created_again.body["proxy"].as_str(), Some(proxy), "with a new proxy");

    // The merchant side: seeded through the AWS seeder, rotated through the served router.
    let merchant_settings = cofre_aws::wiring::MerchantSettings::from_env().unwrap();
    let seeder = cofre_aws::wiring::merchant_seeder(&cofre_aws::wiring::sdk_config().await, &merchant_settings);
    assert_eq!(seeder.seed(&cofre_tests::merchant_fixture()).await.unwrap().inserted, 2);
    let token_a =
        app.tokens.mint(&TenantId::parse("tenant-a").unwrap(), None, std::time::Duration::from_secs(60)).unwrap();
    let rotate = r#"{"secret":"sk_wired","existingCredentials":{"secret":"sk_old"}}"#;
    let reply = Reply::read(
        client
            .patch(format!("{base}/v1/merchants/mid_test_a/connection/midCon_stripe"))
            .bearer_auth(&token_a)
            .body(rotate)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let merchants = cofre_aws::DynamoMerchantStore::new(dynamodb.clone(), &merchants_table);
    let record = cofre_domain::merchants::MerchantStore::merchant(
        &merchants,
        &TenantId::parse("tenant-a").unwrap(),
        &cofre_domain::merchants::MerchantId::parse("mid_test_a").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(record.connections[1].version, 2, "the rotation is in the DynamoDB table");

    // The authorization side: accounts seeded through the AWS seeder, a decision through the router.
    let auth_settings = cofre_aws::wiring::AuthorizationSettings::from_env().unwrap();
    let accounts = cofre_aws::wiring::account_seeder(&cofre_aws::wiring::sdk_config().await, &auth_settings);
    let seeded = accounts.seed(&cofre_tests::account_fixture()).await.unwrap();
    assert_eq!((seeded.inserted, seeded.unchanged, seeded.rehashed), (6, 0, 0));
    let decision = Reply::read(
        client
            .post(format!("{base}/payment-methods/v1/authorization"))
            .bearer_auth(&token_a)
            .body(cofre_tests::authorization_body(1001, "10.00").to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((decision.status, decision.body["status"].as_str()), (200, Some("APPROVED")), "{decision:?}");
    let events = dynamodb.scan().table_name(&events_table).send().await.unwrap();
    assert_eq!(events.count(), 2, "both events are in the events table");

    // What each Lambda main builds, from the same environment: the SDK configured from Lambda's own
    // variables (region, credentials, AWS_ENDPOINT_URL here), not aws-config's chains.
    cofre_aws::wiring::create_credential().await.unwrap();
    cofre_aws::wiring::use_credential().await.unwrap();
    cofre_aws::wiring::patch_merchant_connection().await.unwrap();
    let lambda_authorizer = cofre_aws::wiring::request_authorization().await.unwrap();
    let lambda = cofre_tests::TestServer::start_authorizations(lambda_authorizer).await;
    let decided = lambda.authorize("tenant-a", None, &cofre_tests::authorization_body(1001, "5.00")).await;
    assert_eq!((decided.status, decided.body["status"].as_str()), (200, Some("APPROVED")), "{decided:?}");
    let events = dynamodb.scan().table_name(&events_table).send().await.unwrap();
    assert_eq!(events.count(), 4, "the Lambda wiring wrote to moto's tables");

    // Unknown routes and wrong methods answer JSON like every other error.
    let missing = Reply::read(client.get(format!("{base}/nowhere")).send().await.unwrap()).await;
    assert_eq!((missing.status, missing.code()), (404, "NOT_FOUND"));
    let wrong = Reply::read(client.put(format!("{base}/banking-auth/v1/credentials")).send().await.unwrap()).await;
    assert_eq!((wrong.status, wrong.code()), (405, "METHOD_NOT_ALLOWED"));
    partner.verify().await;
}
