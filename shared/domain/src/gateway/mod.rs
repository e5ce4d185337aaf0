//! The partner gateway: a tenant calls its banking partner *through* Cofre, naming its credential by
//! proxy value. Cofre opens the key inside this use case only, obtains and caches the partner's
//! access token, makes the call and audits it; neither the key nor the token ever leaves.
//!
//! What may be called is configuration ([`crate::endpoints::RouteRule`]): the host is fixed by the
//! endpoint settings and each partner and credential type has an allowlist of methods and path
//! patterns. The caller's path is checked before it is matched ([`PartnerPath`]).

mod error;
mod partner_api;
mod partner_path;
mod sessions;
mod use_case;

pub use error::GatewayError;
pub use partner_api::{AccessToken, PartnerApi, PartnerRequest, PartnerResponse};
pub use partner_path::{InvalidPath, PartnerPath};
pub use sessions::PartnerSessions;
pub use use_case::{
    GatewayCall, MAX_REQUEST_BODY, MAX_RESPONSE_BODY, PartnerGateway, REQUEST_HEADERS, RESPONSE_HEADERS,
};
