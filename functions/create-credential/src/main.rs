//! Lambda `create-credential`: `POST /banking-auth/v1/credentials` behind API Gateway (HTTP API, JWT
//! authorizer). Builds its AWS clients once per execution environment, then serves the shared router.

use std::sync::Arc;

use cofre_aws::wiring::{CredentialSettings, credential_vault, sdk_config};
use cofre_http::{Authenticator, CredentialApi, credential_router, with_json_fallbacks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cofre_http::telemetry::init();
    let settings = CredentialSettings::from_env()?;
    let sdk = sdk_config().await;
    let api = CredentialApi {
        vault: Arc::new(credential_vault(&sdk, &settings)?),
        authenticator: Authenticator::ApiGatewayJwt,
    };
    lambda_http::run(with_json_fallbacks(credential_router(api))).await
}
