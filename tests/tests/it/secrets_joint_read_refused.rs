//! What moto cannot show: a role without `secretsmanager:BatchGetSecretValue` (moto enforces no
//! IAM). patch-merchant-connection reads its HMAC key and its processor settings together; a
//! Secrets Manager API played by wiremock refuses the joint read as AWS does, and each secret must
//! still be read, on its own, once.

use cofre_aws::{SecretGroup, SecretsManagerEndpointSettings, SecretsManagerHmacKey};
use cofre_domain::crypto::HmacKeySource;
use cofre_domain::endpoints::EndpointSettingsSource;
use cofre_tests::wiremock::matchers::{body_partial_json, header, method};
use cofre_tests::wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};
use serde_json::json;

const HMAC: &str = "cofre-hmac-key";
const PROCESSORS: &str = "cofre-processors";

fn operation(name: &str) -> MockBuilder {
    Mock::given(method("POST")).and(header("x-amz-target", format!("secretsmanager.{name}").as_str()))
}

fn answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("content-type", "application/x-amz-json-1.1").set_body_json(body)
}

#[tokio::test]
async fn a_group_whose_joint_read_is_refused_reads_each_secret_on_its_own_once() {
    let server = MockServer::start().await;
    let refusal = json!({
        "__type": "AccessDeniedException",
        "Message": "User: arn:aws:sts::123456789012:assumed-role/patch/fn is not authorized to perform: \
                    secretsmanager:BatchGetSecretValue because no identity-based policy allows it",
    });
    operation("BatchGetSecretValue").respond_with(answer(400, refusal)).mount(&server).await;
    for (id, value) in [(HMAC, "h".repeat(48)), (PROCESSORS, cofre_tests::processors_at("http://127.0.0.1:9", 1_000))] {
        let secret = json!({
            "ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{id}-AbCdEf"),
            "Name": id,
            "SecretString": value,
            "VersionId": "v1",
            "VersionStages": ["AWSCURRENT"],
        });
        operation("GetSecretValue")
            .and(body_partial_json(json!({ "SecretId": id })))
            .respond_with(answer(200, secret))
            .mount(&server)
            .await;
    }
    let config = aws_sdk_secretsmanager::config::Builder::from(&cofre_tests::moto_sdk_config())
        .endpoint_url(server.uri())
        .build();
    let group = SecretGroup::new(aws_sdk_secretsmanager::Client::from_conf(config), [HMAC, PROCESSORS]);
    let hmac = SecretsManagerHmacKey::grouped(&group, HMAC);
    let settings = SecretsManagerEndpointSettings::grouped(&group, PROCESSORS);

    for _ in 0..2 {
        hmac.hmac_keyring().await.unwrap();
        let endpoints = settings.settings().await.unwrap();
        assert_eq!(endpoints.endpoint("Stripe").unwrap().base_url, "http://127.0.0.1:9");
    }
    let calls: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| {
            let target = request.headers.get("x-amz-target").unwrap().to_str().unwrap().to_owned();
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            format!("{target} {}", body["SecretId"].as_str().unwrap_or("(both)"))
        })
        .collect();
    assert_eq!(
        calls,
        [
            "secretsmanager.BatchGetSecretValue (both)",
            &format!("secretsmanager.GetSecretValue {HMAC}"),
            &format!("secretsmanager.GetSecretValue {PROCESSORS}"),
        ],
        "the refused joint read, then each on its own, then both kept"
    );
}
