use async_trait::async_trait;

use super::{ConnectionCredentials, Processor};
use crate::endpoints::Endpoint;

/// How a processor's validation call ended, short of success.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor said the credentials are wrong.
    #[error("the processor rejected the credentials")]
    Rejected,
    /// 5xx, an unexpected answer, or no connection; never holds a body.
    #[error("the processor is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the endpoint's timeout.
    #[error("the processor did not answer in time")]
    Timeout,
}

/// The port to card processors: each one's cheapest real authenticating call.
#[async_trait]
pub trait ProcessorValidator: Send + Sync {
    /// Tries `credentials` against `processor` at `endpoint`; `Ok` means they authenticate.
    async fn validate(
        &self,
        processor: Processor,
        endpoint: &Endpoint,
        credentials: &ConnectionCredentials,
    ) -> Result<(), ProcessorError>;
}
