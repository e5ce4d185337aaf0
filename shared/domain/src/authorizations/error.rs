/// Everything that stops an authorization request short of a decision. Decisions themselves, approved
/// or denied, are answers (200), not errors. No variant carries a PAN.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// No valid token.
    #[error("unauthorized")]
    Unauthorized,
    /// The body breaks a rule; `message` names the field.
    #[error("{code}: {message}")]
    Invalid {
        /// `MALFORMED_JSON`, `INVALID_FIELD`, `MISSING_FIELD`, `UNKNOWN_FIELD`, `UNSUPPORTED_MTI`,
        /// `UNKNOWN_VALIDATION_RULE` or `UNKNOWN_DENIAL_REASON`.
        code: &'static str,
        /// What is wrong, naming the field, never showing a PAN.
        message: String,
    },
    /// `validation_rules` without the `authorizations:override` scope.
    #[error("validation_rules need the authorizations:override scope")]
    Forbidden,
    /// The `tracking_id` was used before with another body.
    #[error("tracking_id already used with a different request")]
    TrackingIdReused,
    /// Concurrent requests kept changing the account: the caller may retry with the same tracking_id.
    #[error("the account is busy; retry with the same tracking_id")]
    InProgress,
    /// A store or key failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthorizationError {
    /// A 400 with `code` and `message`.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into() }
    }

    /// A body that could not be read at all (too large, not bytes).
    pub fn invalid_body(reason: String) -> Self {
        Self::invalid("MALFORMED_JSON", reason)
    }
}
