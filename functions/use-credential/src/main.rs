//! Lambda `use-credential`: `/banking-auth/v1/proxy/{proxy}/{path+}` behind API Gateway (HTTP API,
//! JWT authorizer), the only function allowed to unwrap a banking credential's data key. Builds its
//! use case and token cache once per execution environment (`cofre_aws::wiring`: settings parsed at
//! start, so a wrong one fails the init, not a request), then serves the shared router.

use std::sync::Arc;

use cofre_http::{Authenticator, GatewayApi, gateway_router, with_json_fallbacks};

// One thread: Lambda hands an execution environment one request at a time, so worker threads would
// only add their start-up at init and cross-thread wake-ups to every request (docs/cold-start.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    cofre_http::telemetry::init();
    let api = GatewayApi {
        gateway: Arc::new(cofre_aws::wiring::use_credential().await?),
        authenticator: Authenticator::ApiGatewayJwt,
    };
    lambda_http::run(with_json_fallbacks(gateway_router(api))).await
}
