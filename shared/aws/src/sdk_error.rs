//! How AWS SDK errors are described in logs and error values.
//!
//! Never with their `Debug` text (nor `DisplayErrorContext`, which includes it): that carries the
//! raw HTTP response, and a `GenerateDataKey` response whose parsing failed holds a plaintext data
//! key. Only the error's kind, code and message are kept.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A safe one-line description of an SDK call failure.
pub(crate) fn describe<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    let kind = match error {
        SdkError::ConstructionFailure(_) => "request could not be built",
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not be sent",
        SdkError::ResponseError(_) => "response could not be read",
        SdkError::ServiceError(_) => "service error",
        _ => "failed",
    };
    with_metadata(kind, error)
}

/// A safe description of a service error already taken out of its `SdkError`.
pub(crate) fn describe_service<E: ProvideErrorMetadata>(error: &E) -> String {
    with_metadata("service error", error)
}

fn with_metadata(kind: &str, error: &impl ProvideErrorMetadata) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{kind}: {code}: {message}"),
        (Some(code), None) => format!("{kind}: {code}"),
        _ => kind.to_owned(),
    }
}
