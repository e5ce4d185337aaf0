//! Lambda `request-authorization`: `POST /payment-methods/v1/authorization`, and the reads of what it
//! decided and of accounts' balances (`GET /payment-methods/v1/authorizations/…`, `GET
//! /payment-methods/v1/accounts/{account_id}/balance`), behind API Gateway (HTTP API, JWT authorizer).
//! Builds its use case once per execution environment (`cofre_aws::wiring`: settings parsed at start,
//! so a wrong one fails the init, not a request), then serves the shared router.

use std::sync::Arc;

use cofre_http::{Authenticator, AuthorizationApi, authorization_router, with_json_fallbacks};

// One thread: Lambda hands an execution environment one request at a time, so worker threads would
// only add their start-up at init and cross-thread wake-ups to every request (docs/cold-start.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    cofre_http::telemetry::init();
    let api = AuthorizationApi {
        authorizer: Arc::new(cofre_aws::wiring::request_authorization().await?),
        authenticator: Authenticator::ApiGatewayJwt,
    };
    lambda_http::run(with_json_fallbacks(authorization_router(api))).await
}
