use super::account::wire_enum;

wire_enum!(
    /// Why a request is refused before any rule, or a read before the store (400): the `code` answered.
    InvalidCode {
        /** The body is not a JSON object. */ MalformedJson = "MALFORMED_JSON",
        /** A field the reference does not define. */ UnknownField = "UNKNOWN_FIELD",
        /** A field of the wrong type or format. */ InvalidField = "INVALID_FIELD",
        /** A field the request needs is absent. */ MissingField = "MISSING_FIELD",
        /** `validation_rules` names no rule. */ UnknownValidationRule = "UNKNOWN_VALIDATION_RULE",
        /** `denial_reasons` names no rejection reason of its rule. */ UnknownDenialReason = "UNKNOWN_DENIAL_REASON",
        /** A read's path names an id of the wrong format. */ InvalidParameter = "INVALID_PARAMETER",
    }
);

/// Everything that stops an authorization request short of a decision, or a read short of its answer.
/// Decisions themselves, approved or denied, are answers (200), not errors. No variant carries a PAN.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// No valid token.
    #[error("unauthorized")]
    Unauthorized,
    /// The body breaks a rule; `message` names the field.
    #[error("{code}: {message}")]
    Invalid {
        /// Which kind of rule.
        code: InvalidCode,
        /// What is wrong, naming the field, never showing a PAN.
        message: String,
    },
    /// `validation_rules` without the `authorizations:override` scope.
    #[error("validation_rules need the authorizations:override scope")]
    Forbidden,
    /// A forced confirmation (a 0202 naming no original) without the `authorizations:override` scope.
    #[error("forced confirmations need the authorizations:override scope")]
    ForcedConfirmationForbidden,
    /// Concurrent requests kept changing the account: the caller may retry with the same tracking_id.
    #[error("the account is busy; retry with the same tracking_id")]
    InProgress,
    /// No authorization of the caller's tenant has this id or tracking_id.
    #[error("no such authorization")]
    NotFound,
    /// No account of the caller's tenant has this id.
    #[error("no such account")]
    AccountNotFound,
    /// A store or key failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthorizationError {
    /// A 400 with `code` and `message`.
    pub fn invalid(code: InvalidCode, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into() }
    }

    /// A body that could not be read at all (too large, not bytes).
    pub fn invalid_body(reason: String) -> Self {
        Self::invalid(InvalidCode::MalformedJson, reason)
    }
}
