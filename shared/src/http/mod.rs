//! HTTP: the routers both Lambda and the local server serve, and the one place errors become
//! responses.

mod credentials;
mod error;
mod fallback;
mod identity;
mod tracking;

pub use credentials::{CredentialApi, credential_router};
pub use error::{ApiErrorBody, AuthError};
pub use fallback::with_json_fallbacks;
pub use identity::{Authenticator, LocalTokens, TokenClaims};
pub use tracking::{TRACKING_HEADER, track_request};
