//! Lambda `use-credential`: `/banking-auth/v1/proxy/{proxy}/{path+}` behind API Gateway (HTTP API,
//! JWT authorizer), the only function allowed to unwrap a banking credential's data key. Builds its
//! AWS clients and token cache once per execution environment, then serves the shared router.

use std::sync::Arc;

use cofre_aws::wiring::{CredentialSettings, partner_gateway, sdk_config};
use cofre_http::{Authenticator, GatewayApi, gateway_router, with_json_fallbacks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cofre_http::telemetry::init();
    let settings = CredentialSettings::from_env()?;
    let sdk = sdk_config().await;
    let api = GatewayApi {
        gateway: Arc::new(partner_gateway(&sdk, &settings)?),
        authenticator: Authenticator::ApiGatewayJwt,
    };
    lambda_http::run(with_json_fallbacks(gateway_router(api))).await
}
