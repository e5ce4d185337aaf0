//! Every documented error answer, one table per area: the code, the status and the message. The
//! mapping in the parent module answers from these tables and nothing else, and a test holds
//! `openapi.yaml`, `README.md` and `docs/*.md` to them, both ways (`contract.rs`). Each area's `ALL`
//! lists its answers for that test, and the mapping's tests check every answer given is listed.

use http::StatusCode as S;

use cofre_domain::authorizations::InvalidCode;

/// One documented answer in Pismo's `{code, message}` shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The `code` field.
    pub code: &'static str,
    /// The HTTP status.
    pub status: S,
    /// The message; each `{…}` is filled per answer (a partner's name, the fields missing, what is
    /// wrong with the request), in order.
    pub message: &'static str,
}

/// One documented answer in Preczn's `{statusCode, message, error}` shape, which has no code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrecznAnswer {
    /// The HTTP status (also `statusCode`; `error` is its reason phrase).
    pub status: S,
    /// The message, filled as [`ErrorCode::message`] is.
    pub message: &'static str,
}

const fn code(code: &'static str, status: S, message: &'static str) -> ErrorCode {
    ErrorCode { code, status, message }
}

/// `message` with each `{…}` replaced by the next of `parts`.
fn fill(message: &str, parts: &[&str]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = parts.iter();
    let mut rest = message;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        out.push_str(&rest[..open]);
        match parts.next() {
            Some(part) => out.push_str(part),
            None => out.push_str(&rest[open..open + close + 1]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

impl ErrorCode {
    /// The message, its `{…}` filled with `parts` in order.
    pub fn message_with(&self, parts: &[&str]) -> String {
        fill(self.message, parts)
    }
}

impl PrecznAnswer {
    /// The message, its `{…}` filled with `parts` in order.
    pub fn message_with(&self, parts: &[&str]) -> String {
        fill(self.message, parts)
    }
}

/// No valid token, on every route.
pub const UNAUTHORIZED: ErrorCode = code("UNAUTHORIZED", S::UNAUTHORIZED, "Unauthorized");

/// Answers to a path or method no router serves.
pub mod routing {
    use super::{ErrorCode, S, code};

    /// No route has this path.
    pub const NOT_FOUND: ErrorCode = code("NOT_FOUND", S::NOT_FOUND, "No such route");
    /// The path exists, not with this method.
    pub const METHOD_NOT_ALLOWED: ErrorCode = code("METHOD_NOT_ALLOWED", S::METHOD_NOT_ALLOWED, "Method not allowed");
    /// Every answer of this area (what the contract test checks).
    #[cfg(test)]
    pub const ALL: &[ErrorCode] = &[NOT_FOUND, METHOD_NOT_ALLOWED];
}

/// `/banking-auth/v1/credentials…`: create or replace, list, revoke, the uses of one (Pismo's codes).
pub mod credentials {
    use super::{ErrorCode, S, code};

    /// Malformed JSON, a field of the wrong type, an unknown field, a body too large, a bad query.
    pub const INVALID_PAYLOAD: ErrorCode = code("EBAA0004", S::BAD_REQUEST, "Invalid payload");
    /// Required fields absent or empty.
    pub const MISSING_FIELDS: ErrorCode =
        code("EBAA0005", S::BAD_REQUEST, "Invalid payload. Required fields: [{fields}]");
    /// A type and provider not offered together.
    pub const UNSUPPORTED_PAIR: ErrorCode =
        code("EBAA0007", S::BAD_REQUEST, "Unsupported Type: ({type}) and Provider ({provider})");
    /// The partner refused the key.
    pub const INVALID_CREDENTIAL: ErrorCode = code("EBAA0018", S::BAD_REQUEST, "{provider} - API Invalid credential");
    /// The partner failed or could not be reached.
    pub const PARTNER_UNAVAILABLE: ErrorCode = code("EBAA0002", S::BAD_GATEWAY, "Bad Gateway Error");
    /// The partner did not answer in time.
    pub const PARTNER_TIMEOUT: ErrorCode = code("EBAA0003", S::GATEWAY_TIMEOUT, "Gateway Timeout");
    /// No settings for the partner.
    pub const PARTNER_CONFIG_NOT_FOUND: ErrorCode =
        code("EBAA0014", S::INTERNAL_SERVER_ERROR, "{provider} - API configuration not found");
    /// The sealed key opened to another value.
    pub const ENCRYPTION_MISMATCH: ErrorCode =
        code("EBAA0009", S::INTERNAL_SERVER_ERROR, "Encrypted value error. Decrypt returned different value");
    /// The key service or the cipher failed.
    pub const CRYPTO: ErrorCode =
        code("EBAA0010", S::INTERNAL_SERVER_ERROR, "Cryptography Decrypt error. Check logs for more details");
    /// The store failed a write.
    pub const SAVE: ErrorCode = code(
        "EBAA0011",
        S::INTERNAL_SERVER_ERROR,
        "Credential Repository Save config error. Check logs for more details",
    );
    /// The store failed a read, or returned an unreadable item.
    pub const GET: ErrorCode = code(
        "EBAA0012",
        S::INTERNAL_SERVER_ERROR,
        "Credential Repository Get config error. Check logs for more details",
    );
    /// No credential of the caller's tenant has this proxy.
    pub const NOT_FOUND: ErrorCode = code("EBAA0101", S::NOT_FOUND, "Credential not found");
    /// Every answer of this area (what the contract test checks).
    #[cfg(test)]
    pub const ALL: &[ErrorCode] = &[
        super::UNAUTHORIZED,
        INVALID_PAYLOAD,
        MISSING_FIELDS,
        UNSUPPORTED_PAIR,
        INVALID_CREDENTIAL,
        PARTNER_UNAVAILABLE,
        PARTNER_TIMEOUT,
        PARTNER_CONFIG_NOT_FOUND,
        ENCRYPTION_MISMATCH,
        CRYPTO,
        SAVE,
        GET,
        NOT_FOUND,
    ];
}

/// `/banking-auth/v1/proxy/{proxy}/{path}`: Cofre's own `EBAA01xx`, and the create call's codes where
/// it has one for the same failure.
pub mod gateway {
    use super::{ErrorCode, S, code, credentials};

    /// The proxy names no credential of the caller's tenant.
    pub const NOT_FOUND: ErrorCode = credentials::NOT_FOUND;
    /// The partner path leaves the partner's base, or is malformed.
    pub const INVALID_PATH: ErrorCode = code("EBAA0102", S::BAD_REQUEST, "Invalid partner path");
    /// No allowlisted operation of the credential's type matches.
    pub const NOT_ALLOWED: ErrorCode = code("EBAA0103", S::FORBIDDEN, "Operation not allowed for this credential");
    /// The partner refused a fresh access token too.
    pub const SESSION_REJECTED: ErrorCode =
        code("EBAA0104", S::BAD_GATEWAY, "{provider} - Partner refused a fresh access token");
    /// The request body is over the limit.
    pub const BODY_TOO_LARGE: ErrorCode =
        code("EBAA0105", S::PAYLOAD_TOO_LARGE, "Request body too large (64 KiB at most)");
    /// The partner refused the stored key: the tenant must replace the credential (422, where the
    /// create call's 400 would blame the request).
    pub const CREDENTIAL_REJECTED: ErrorCode =
        code("EBAA0018", S::UNPROCESSABLE_ENTITY, "{provider} - API Invalid credential");
    /// Every answer of this area (what the contract test checks).
    #[cfg(test)]
    pub const ALL: &[ErrorCode] = &[
        super::UNAUTHORIZED,
        NOT_FOUND,
        INVALID_PATH,
        NOT_ALLOWED,
        SESSION_REJECTED,
        BODY_TOO_LARGE,
        CREDENTIAL_REJECTED,
        credentials::PARTNER_CONFIG_NOT_FOUND,
        credentials::PARTNER_UNAVAILABLE,
        credentials::PARTNER_TIMEOUT,
        credentials::CRYPTO,
        credentials::GET,
        credentials::SAVE,
    ];
}

/// `POST /payment-methods/v1/authorization`, and the reads beside it (`GET
/// /payment-methods/v1/authorizations/…`, `GET /payment-methods/v1/accounts/{account_id}/balance`).
pub mod authorizations {
    use super::{ErrorCode, InvalidCode, S, code};

    const fn refused(why: InvalidCode) -> ErrorCode {
        code(why.as_str(), S::BAD_REQUEST, "{message}")
    }

    /// The body is not a JSON object (or could not be read).
    pub const MALFORMED_JSON: ErrorCode = refused(InvalidCode::MalformedJson);
    /// A field the reference does not define.
    pub const UNKNOWN_FIELD: ErrorCode = refused(InvalidCode::UnknownField);
    /// A field of the wrong type or format.
    pub const INVALID_FIELD: ErrorCode = refused(InvalidCode::InvalidField);
    /// A field the request needs is absent.
    pub const MISSING_FIELD: ErrorCode = refused(InvalidCode::MissingField);
    /// `validation_rules` names no rule.
    pub const UNKNOWN_VALIDATION_RULE: ErrorCode = refused(InvalidCode::UnknownValidationRule);
    /// `denial_reasons` names no rejection reason of its rule.
    pub const UNKNOWN_DENIAL_REASON: ErrorCode = refused(InvalidCode::UnknownDenialReason);
    /// A read's path names an id of the wrong format.
    pub const INVALID_PARAMETER: ErrorCode = refused(InvalidCode::InvalidParameter);
    /// Overrides without the override scope.
    pub const FORBIDDEN: ErrorCode =
        code("FORBIDDEN", S::FORBIDDEN, "validation_rules require the authorizations:override scope");
    /// A forced confirmation (a 0202 naming no original) without the override scope.
    pub const FORBIDDEN_FORCED_CONFIRMATION: ErrorCode =
        code("FORBIDDEN", S::FORBIDDEN, "forced confirmations require the authorizations:override scope");
    /// No authorization of the caller's tenant has the id or tracking_id read (another tenant's is
    /// answered so too).
    pub const AUTHORIZATION_NOT_FOUND: ErrorCode =
        code("AUTHORIZATION_NOT_FOUND", S::NOT_FOUND, "Authorization not found");
    /// No account of the caller's tenant has the id read (another tenant's is answered so too).
    pub const ACCOUNT_NOT_FOUND: ErrorCode = code("ACCOUNT_NOT_FOUND", S::NOT_FOUND, "Account not found");
    /// The account kept changing under concurrent requests.
    pub const IN_PROGRESS: ErrorCode = code(
        "IN_PROGRESS",
        S::CONFLICT,
        "The account is busy with concurrent requests; retry with the same tracking_id",
    );
    /// A store or key failure.
    pub const INTERNAL_ERROR: ErrorCode = code("INTERNAL_ERROR", S::INTERNAL_SERVER_ERROR, "Internal server error");

    /// The 400 answered for `why`.
    pub fn refusal(why: InvalidCode) -> &'static ErrorCode {
        match why {
            InvalidCode::MalformedJson => &MALFORMED_JSON,
            InvalidCode::UnknownField => &UNKNOWN_FIELD,
            InvalidCode::InvalidField => &INVALID_FIELD,
            InvalidCode::MissingField => &MISSING_FIELD,
            InvalidCode::UnknownValidationRule => &UNKNOWN_VALIDATION_RULE,
            InvalidCode::UnknownDenialReason => &UNKNOWN_DENIAL_REASON,
            InvalidCode::InvalidParameter => &INVALID_PARAMETER,
        }
    }

    /// Every answer of this area (what the contract test checks).
    #[cfg(test)]
    pub const ALL: &[ErrorCode] = &[
        super::UNAUTHORIZED,
        MALFORMED_JSON,
        UNKNOWN_FIELD,
        INVALID_FIELD,
        MISSING_FIELD,
        UNKNOWN_VALIDATION_RULE,
        UNKNOWN_DENIAL_REASON,
        INVALID_PARAMETER,
        FORBIDDEN,
        FORBIDDEN_FORCED_CONFIRMATION,
        AUTHORIZATION_NOT_FOUND,
        ACCOUNT_NOT_FOUND,
        IN_PROGRESS,
        INTERNAL_ERROR,
    ];
}

/// `PATCH /v1/merchants/{merchantId}/connection/{connectionId}` (Preczn's shape: no codes).
pub mod merchants {
    use super::{PrecznAnswer, S};

    const fn answer(status: S, message: &'static str) -> PrecznAnswer {
        PrecznAnswer { status, message }
    }

    /// No valid token.
    pub const UNAUTHORIZED: PrecznAnswer = answer(S::UNAUTHORIZED, "Unauthorized");
    /// A malformed body: the message says which rule, never with a value.
    pub const INVALID_REQUEST: PrecznAnswer = answer(S::BAD_REQUEST, "{message}");
    /// The merchant or connection is unknown, or another tenant's.
    pub const NOT_FOUND: PrecznAnswer = answer(S::NOT_FOUND, "Merchant connection not found");
    /// The merged set lacks fields the processor needs.
    pub const MISSING_FIELDS: PrecznAnswer = answer(S::BAD_REQUEST, "{processor} requires fields: {fields}");
    /// Credentials are on file and the request does not prove knowledge of them.
    pub const CREDENTIALS_EXIST: PrecznAnswer =
        answer(S::BAD_REQUEST, "Credentials already exist for this connection. Please update via Dashboard");
    /// `existingCredentials` do not match what is on file, or a concurrent rotation won.
    pub const EXISTING_MISMATCH: PrecznAnswer = answer(
        S::CONFLICT,
        "The credentials passed in 'existingCredentials' do not match those on file. No updates have been made.",
    );
    /// Too many failed proofs of the credentials on file; `Retry-After` gives the seconds left.
    pub const PROOF_LOCKED: PrecznAnswer = answer(
        S::TOO_MANY_REQUESTS,
        "Too many failed attempts to prove the credentials on file. Retry after {seconds} seconds. No updates have been made.",
    );
    /// The processor refused the new set.
    pub const INVALID_CREDENTIALS: PrecznAnswer =
        answer(S::BAD_REQUEST, "Invalid connection credentials. Please update credentials and submit again.");
    /// The processor failed or could not be reached.
    pub const PROCESSOR_UNAVAILABLE: PrecznAnswer =
        answer(S::BAD_GATEWAY, "The processor could not be reached. No updates have been made.");
    /// The processor did not answer in time.
    pub const PROCESSOR_TIMEOUT: PrecznAnswer =
        answer(S::GATEWAY_TIMEOUT, "The processor did not respond in time. No updates have been made.");
    /// No processor settings, or a key service or store failure.
    pub const INTERNAL: PrecznAnswer =
        answer(S::INTERNAL_SERVER_ERROR, "Internal server error. No updates have been made.");
    /// Every answer of this area (what the contract test checks).
    #[cfg(test)]
    pub const ALL: &[PrecznAnswer] = &[
        UNAUTHORIZED,
        INVALID_REQUEST,
        NOT_FOUND,
        MISSING_FIELDS,
        CREDENTIALS_EXIST,
        EXISTING_MISMATCH,
        PROOF_LOCKED,
        INVALID_CREDENTIALS,
        PROCESSOR_UNAVAILABLE,
        PROCESSOR_TIMEOUT,
        INTERNAL,
    ];
}

/// Every area answering in Pismo's shape, by name (what the contract test checks).
#[cfg(test)]
pub const AREAS: &[(&str, &[ErrorCode])] = &[
    ("routing", routing::ALL),
    ("credentials", credentials::ALL),
    ("gateway", gateway::ALL),
    ("authorizations", authorizations::ALL),
];
