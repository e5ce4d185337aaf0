//! HTTP: the routers both Lambda and the local server serve, identity, the one place errors become
//! responses, and the JSON log layer every binary installs.

mod authorizations;
mod credentials;
mod error;
mod fallback;
mod gateway;
mod identity;
mod merchants;
pub mod telemetry;
mod tracking;

pub use authorizations::{AuthorizationApi, authorization_router};
pub use credentials::{CredentialApi, credential_router};
pub use error::{ApiErrorBody, AuthError, Documented, PrecznDocumented, PrecznErrorBody, Refusal};
pub use fallback::with_json_fallbacks;
pub use gateway::{GatewayApi, gateway_router};
pub use identity::{Authenticator, Caller, TokenClaims, TokenVerifier};
pub use merchants::{MerchantApi, merchant_router};
pub use tracking::{TRACKING_HEADER, track_request};
