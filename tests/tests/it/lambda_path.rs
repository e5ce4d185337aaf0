//! The Lambda path: an API Gateway HTTP API (payload 2.0) event, as Lambda delivers it, through
//! `lambda_http`'s conversion into the very router the function serves, identity from the JWT
//! authorizer's claims in the request context.

use std::sync::Arc;

use cofre_domain::credentials::{CredentialType, Provider};
use cofre_http::{Authenticator, CredentialApi, credential_router};
use cofre_tests::wiremock::matchers::{method, path};
use cofre_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use cofre_tests::{Backend, Stack, credential_body, partners_at};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// An event shaped like `sam local generate-event apigateway http-api-proxy`, with JWT claims.
fn event(body: &str, claims: Option<Value>, tracking_id: &str) -> String {
    route_event("POST", "/banking-auth/v1/credentials", "/banking-auth/v1/credentials", None, body, claims, tracking_id)
}

fn route_event(
    http_method: &str,
    route: &str,
    raw_path: &str,
    path_parameters: Option<Value>,
    body: &str,
    claims: Option<Value>,
    tracking_id: &str,
) -> String {
    let authorizer = claims.map(|claims| json!({ "jwt": { "claims": claims, "scopes": null } }));
    json!({
        "version": "2.0",
        "routeKey": format!("{http_method} {route}"),
        "rawPath": raw_path,
        "pathParameters": path_parameters,
        "rawQueryString": "",
        "headers": { "content-type": "application/json", "tracking_id": tracking_id, "authorization": "Bearer verified-by-api-gateway" },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "authorizer": authorizer,
            "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "id",
            "http": { "method": http_method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "agent" },
            "requestId": "id",
            "routeKey": format!("{http_method} {route}"),
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

async fn invoke(router: axum::Router, event: &str) -> (u16, Value, String) {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let tracking = response.headers().get("tracking_id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), tracking)
}

#[tokio::test]
async fn an_api_gateway_event_with_jwt_claims_stores_the_tenants_credential() {
    let partner = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&partner)
        .await;
    let stack = Stack::new(Backend::Local).await;
    let vault = stack.vault(stack.partner_settings(Some(&partners_at(&partner.uri(), 2_000))).await);
    let router =
        credential_router(CredentialApi { vault: Arc::new(vault), authenticator: Authenticator::ApiGatewayJwt });

    let claims = json!({ "tenant_id": "tenant-lambda", "sub": "key-1", "scope": "credentials:write" });
    let (status, body, tracking) =
        invoke(router.clone(), &event(&credential_body("lambda-key", "BTG", "PIX"), Some(claims), "lambda-track"))
            .await;
    assert_eq!((status, body["message"].as_str(), tracking.as_str()), (201, Some("Credential saved"), "lambda-track"));
    assert_eq!(
        stack.stored_key("tenant-lambda", Provider::Btg, CredentialType::Pix).await,
        Some(("lambda-key".into(), 1))
    );

    // No authorizer context (or no tenant claim): the bearer header alone proves nothing here.
    for claims in [None, Some(json!({ "sub": "no-tenant" })), Some(json!({ "tenant_id": "bad#tenant" }))] {
        let (status, body, _) =
            invoke(router.clone(), &event(&credential_body("k", "BTG", "PIX"), claims.clone(), "t")).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHORIZED")), "{claims:?}");
    }
    // Errors keep their documented shape on the Lambda path too.
    let (status, body, _) = invoke(router, &event("{}", Some(json!({ "tenant_id": "tenant-lambda" })), "t")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("EBAA0005")));
    partner.verify().await;
}

#[tokio::test]
async fn an_api_gateway_event_with_path_parameters_rotates_a_merchant_connection() {
    use cofre_http::{MerchantApi, merchant_router};
    use cofre_tests::{merchant_fixture, processors_at};
    let processor = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/account"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&processor)
        .await;
    let stack = Stack::new(Backend::Local).await;
    stack.seeder().seed(&merchant_fixture()).await.unwrap();
    let connections = stack.connections(stack.partner_settings(Some(&processors_at(&processor.uri(), 2_000))).await);
    let router = merchant_router(MerchantApi {
        connections: Arc::new(connections),
        authenticator: Authenticator::ApiGatewayJwt,
    });

    let route = "/v1/merchants/{merchantId}/connection/{connectionId}";
    let raw = "/v1/merchants/mid_test_a/connection/midCon_stripe";
    let params = json!({ "merchantId": "mid_test_a", "connectionId": "midCon_stripe" });
    let body = r#"{"secret":"sk_lambda","existingCredentials":{"secret":"sk_old"}}"#;
    let claims = json!({ "tenant_id": "tenant-a", "sub": "key-7", "name": "Platform Key" });
    let (status, record, tracking) = invoke(
        router.clone(),
        &route_event("PATCH", route, raw, Some(params.clone()), body, Some(claims), "lambda-merchant"),
    )
    .await;
    assert_eq!((status, tracking.as_str()), (200, "lambda-merchant"), "{record}");
    assert_eq!(record["modifiedBy"], "API Key: Platform Key", "modifiedBy comes from the token's name claim");
    assert_eq!(record["tin"], "****6789");
    assert_eq!(
        stack.stored_connection("tenant-a", "mid_test_a", "midCon_stripe").await.0,
        Some(json!({ "secret": "sk_lambda" }))
    );

    // Another tenant's claims reach the same path and find nothing.
    let other = json!({ "tenant_id": "tenant-b", "sub": "k" });
    let (status, record, _) =
        invoke(router.clone(), &route_event("PATCH", route, raw, Some(params.clone()), body, Some(other), "t")).await;
    assert_eq!((status, record["statusCode"].as_i64()), (404, Some(404)));
    let (status, record, _) = invoke(router, &route_event("PATCH", route, raw, Some(params), body, None, "t")).await;
    assert_eq!((status, record["message"].as_str()), (401, Some("Unauthorized")));
    processor.verify().await;
}

#[tokio::test]
async fn an_api_gateway_event_authorizes_with_the_scope_from_the_claims() {
    use cofre_http::{AuthorizationApi, authorization_router};
    let stack = Stack::new(Backend::Local).await;
    stack.seed_accounts(&cofre_tests::account_fixture()).await;
    let router = authorization_router(AuthorizationApi {
        authorizer: Arc::new(stack.authorizer()),
        authenticator: Authenticator::ApiGatewayJwt,
    });
    let path = "/payment-methods/v1/authorization";
    let forced = r#"{"mti":"0100","amount":2000.00,"currency":"BRL","network":"VISA","account_id":1001,"entry_mode":"01","processing_code":"003000","validation_rules":{"LEDGER":{"force":true}}}"#;
    let plain = json!({ "tenant_id": "tenant-a", "sub": "k" });
    let (status, body, _) =
        invoke(router.clone(), &route_event("POST", path, path, None, forced, Some(plain), "t")).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")));
    let scoped = json!({ "tenant_id": "tenant-a", "sub": "k", "scope": "payments:write authorizations:override" });
    let (status, body, tracking) =
        invoke(router, &route_event("POST", path, path, None, forced, Some(scoped), "lambda-auth")).await;
    assert_eq!((status, body["status"].as_str(), tracking.as_str()), (200, Some("APPROVED"), "lambda-auth"), "{body}");
    assert_eq!(body["overrides_applied"], json!(["LEDGER:force"]));
    assert_eq!(stack.account("tenant-a", 1001).await.available, -100_000);
}

/// What each file in `events/` must get from its function, in the order the Lambda-level run
/// (`infra/lambda_events.py`) invokes them: the create makes the proxy the later events name.
const EVENT_EXPECTATIONS: [(&str, u16); 18] = [
    ("create-credential.created", 201),
    ("use-credential.transfer", 201),
    ("create-credential.list", 200),
    ("create-credential.uses", 200),
    ("create-credential.revoked", 200),
    ("use-credential.not-found", 404),
    ("create-credential.missing-fields", 400),
    ("patch-merchant-connection.rotated", 200),
    ("patch-merchant-connection.not-found", 404),
    ("request-authorization.approved", 200),
    ("request-authorization.invalid-mti", 400),
    ("request-authorization.read-back", 200),
    ("request-authorization.read-back-not-found", 404),
    ("request-authorization.balance", 200),
    ("request-authorization.advice", 200),
    ("request-authorization.reversal-advice", 200),
    ("use-credential.transfer", 404),
    // Not HTTP: the scheduler's event, answered with the sweep's report (200: a report came back).
    ("expire-holds.scheduled", 200),
];

/// The placeholder the proxy events carry until a run knows the real proxy.
const PROXY_PLACEHOLDER: &str = "cfp_PLACEHOLDERPLACEHOLDERPLACEHOLDERPLACEHOLDE";

/// Every event file the Lambda-level run invokes goes through the router its function serves, so
/// the files and the handlers cannot drift apart: a renamed route, a changed status or a new
/// event without an expectation fails here first.
#[tokio::test]
async fn every_event_file_gets_its_documented_answer_from_its_functions_router() {
    use cofre_http::{
        AuthorizationApi, GatewayApi, MerchantApi, authorization_router, gateway_router, merchant_router,
    };
    let events_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let mut files: Vec<String> = std::fs::read_dir(events_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".json").to_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = EVENT_EXPECTATIONS.iter().map(|(name, _)| (*name).to_owned()).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(files, expected, "every event file has an expectation, and every expectation a file");

    let partner = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"access_token":"event-run-partner-token","expires_in":300}"#),
        )
        .mount(&partner)
        .await;
    Mock::given(method("POST"))
        .and(path("/pix/v1/transfers"))
        .respond_with(ResponseTemplate::new(201).set_body_string(r#"{"status":"PROCESSING"}"#))
        .mount(&partner)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("{}")).mount(&partner).await;
    let stack = Stack::new(Backend::Local).await;
    let seed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/seed.example.json")).unwrap(),
    )
    .unwrap();
    stack.seeder().seed(seed["merchants"].as_array().unwrap()).await.unwrap();
    stack.seed_accounts(seed["accounts"].as_array().unwrap()).await;
    let partners = stack.partner_settings(Some(&cofre_tests::gateway_partners_at(&partner.uri(), 2_000))).await;
    let processors = stack.partner_settings(Some(&cofre_tests::processors_at(&partner.uri(), 2_000))).await;
    let jwt = Authenticator::ApiGatewayJwt;
    let gateway = Arc::new(stack.gateway(Arc::clone(&partners), Arc::new(cofre_domain::clock::SystemClock)));
    let router_of = |function: &str| match function {
        "create-credential" => credential_router(CredentialApi {
            vault: Arc::new(stack.vault(Arc::clone(&partners))),
            authenticator: jwt.clone(),
        }),
        "use-credential" => gateway_router(GatewayApi { gateway: Arc::clone(&gateway), authenticator: jwt.clone() }),
        "patch-merchant-connection" => merchant_router(MerchantApi {
            connections: Arc::new(stack.connections(Arc::clone(&processors))),
            authenticator: jwt.clone(),
        }),
        "request-authorization" => authorization_router(AuthorizationApi {
            authorizer: Arc::new(stack.authorizer()),
            authenticator: jwt.clone(),
        }),
        other => panic!("no function {other}"),
    };

    let mut proxy = None::<String>;
    for (name, status) in EVENT_EXPECTATIONS {
        let function = name.split('.').next().unwrap();
        let mut event = std::fs::read_to_string(format!("{events_dir}/{name}.json")).unwrap();
        if let Some(proxy) = &proxy {
            event = event.replace(PROXY_PLACEHOLDER, proxy);
        }
        if function == "expire-holds" {
            let expirer = stack.hold_expirer(Arc::new(cofre_domain::clock::SystemClock));
            let event: Value = serde_json::from_str(&event).unwrap();
            let report = cofre_aws::wiring::sweep_holds(&expirer, &event, None).await.unwrap();
            // The holds placed above expire in a week: nothing is due.
            assert_eq!(report, json!({ "due": 0, "expired": 0, "settled_first": 0, "retried": 0, "left": 0 }));
            assert_eq!(status, 200);
            continue;
        }
        let (got, body, _) = invoke(cofre_http::with_json_fallbacks(router_of(function)), &event).await;
        assert_eq!(got, status, "{name}: {body}");
        if name == "create-credential.created" {
            proxy = body["proxy"].as_str().map(str::to_owned);
        }
        // The advice posts beyond what the account has, on a blocked card; its reversal gives it back.
        if name.ends_with("advice") {
            assert_eq!((&body["status"], &body["response_code"]), (&json!("APPROVED"), &json!("00")), "{name}: {body}");
            assert_eq!(body["amount"].as_f64(), Some(1500.0), "{name}: {body}");
        }
    }
}
