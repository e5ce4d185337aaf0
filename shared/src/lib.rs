//! Cofre's domain crate.
//!
//! - Domain (no AWS): [`secret`], [`tenant`], [`tracking`], [`clock`], [`ids`], [`crypto`],
//!   [`credentials`].
//! - Adapters (AWS and local stand-ins): [`adapters`], wired for Lambda by [`aws`].
//! - HTTP: [`http`], the routers every function and the local server serve.

pub mod adapters;
pub mod authorizations;
pub mod aws;
pub mod clock;
pub mod credentials;
pub mod crypto;
pub mod endpoints;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod merchants;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod tracking;
