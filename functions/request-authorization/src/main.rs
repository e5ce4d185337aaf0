//! Lambda `request-authorization`: `POST /payment-methods/v1/authorization` behind API Gateway (HTTP
//! API, JWT authorizer). Builds its AWS clients once per execution environment, then serves the
//! shared router.

use std::sync::Arc;

use cofre_aws::wiring::{AuthorizationSettings, authorizer, sdk_config};
use cofre_http::{Authenticator, AuthorizationApi, authorization_router, with_json_fallbacks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cofre_http::telemetry::init();
    let settings = AuthorizationSettings::from_env()?;
    let sdk = sdk_config().await;
    let api = AuthorizationApi {
        authorizer: Arc::new(authorizer(&sdk, &settings)),
        authenticator: Authenticator::ApiGatewayJwt,
    };
    lambda_http::run(with_json_fallbacks(authorization_router(api))).await
}
