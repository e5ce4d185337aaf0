//! HTTP: the routers both Lambda and the local server serve, and the one place errors become
//! responses.

mod authorizations;
mod credentials;
mod error;
mod fallback;
mod gateway;
mod identity;
mod merchants;
mod tracking;

pub use authorizations::{AuthorizationApi, authorization_router};
pub use credentials::{CredentialApi, credential_router};
pub use error::{ApiErrorBody, AuthError, PrecznErrorBody};
pub use fallback::with_json_fallbacks;
pub use gateway::{GatewayApi, gateway_router};
pub use identity::{Authenticator, LocalTokens, TokenClaims};
pub use merchants::{MerchantApi, merchant_router};
pub use tracking::{TRACKING_HEADER, track_request};
