//! Lambda `patch-merchant-connection`: `PATCH /v1/merchants/{merchantId}/connection/{connectionId}`
//! behind API Gateway (HTTP API, JWT authorizer). Builds its AWS clients once per execution
//! environment, then serves the shared router.

use std::sync::Arc;

use cofre_aws::wiring::{MerchantSettings, merchant_connections, sdk_config};
use cofre_http::{Authenticator, MerchantApi, merchant_router, with_json_fallbacks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cofre_http::telemetry::init();
    let settings = MerchantSettings::from_env()?;
    let sdk = sdk_config().await;
    let api = MerchantApi {
        connections: Arc::new(merchant_connections(&sdk, &settings)?),
        authenticator: Authenticator::ApiGatewayJwt,
    };
    lambda_http::run(with_json_fallbacks(merchant_router(api))).await
}
