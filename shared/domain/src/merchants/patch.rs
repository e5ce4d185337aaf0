use serde_json::{Map, Value};

use super::{ConnectionCredentials, ConnectionError, CredentialField};
use crate::secret::SecretString;

/// The most characters one credential value may have.
const MAX_VALUE_LEN: usize = 2048;

/// A parsed `PATCH …/connection/{id}` body: the new fields, and the caller's claim of what is on file.
#[derive(Debug)]
pub struct ConnectionPatch {
    /// The fields to set (at least one).
    pub new: ConnectionCredentials,
    /// `existingCredentials`, if given.
    pub existing: Option<ConnectionCredentials>,
}

fn invalid(message: impl Into<String>) -> ConnectionError {
    ConnectionError::InvalidRequest(message.into())
}

/// Reads `key`/`secret`/`mid` from `object`: the request body itself (`nested_in: None`, which also
/// admits `existingCredentials`) or an object nested under that name. Messages name fields, never
/// values or unknown names (a misplaced secret can sit in either).
pub(super) fn parse_credentials(
    object: &Map<String, Value>,
    nested_in: Option<&str>,
) -> Result<ConnectionCredentials, ConnectionError> {
    let allow_nested = nested_in.is_none();
    let context = nested_in.map(|name| format!("{name}.")).unwrap_or_default();
    let mut set = ConnectionCredentials::default();
    for (name, value) in object {
        if allow_nested && name == "existingCredentials" {
            continue;
        }
        let Some(field) = CredentialField::parse(name) else {
            let allowed = if allow_nested { "key, secret, mid, existingCredentials" } else { "key, secret, mid" };
            let owner = nested_in.unwrap_or("Request body");
            return Err(invalid(format!("{owner} has an unknown field; allowed fields are {allowed}")));
        };
        let text = match value {
            Value::String(text) => text,
            _ => return Err(invalid(format!("{context}{field} must be a string"))),
        };
        if text.is_empty() || text.chars().count() > MAX_VALUE_LEN {
            return Err(invalid(format!("{context}{field} must be 1 to {MAX_VALUE_LEN} characters")));
        }
        let value = Some(SecretString::new(text.clone()));
        match field {
            CredentialField::Key => set.key = value,
            CredentialField::Secret => set.secret = value,
            CredentialField::Mid => set.mid = value,
        }
    }
    Ok(set)
}

/// Parses a body: a JSON object of string `key`/`secret`/`mid` (at least one), optionally
/// `existingCredentials` of the same shape.
pub fn parse_connection_patch(body: &[u8]) -> Result<ConnectionPatch, ConnectionError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("Request body is not valid JSON (line {}, column {})", e.line(), e.column())))?;
    let Value::Object(object) = value else {
        return Err(invalid("Request body must be a JSON object"));
    };
    let new = parse_credentials(&object, None)?;
    let existing = match object.get("existingCredentials") {
        None => None,
        Some(Value::Object(nested)) => Some(parse_credentials(nested, Some("existingCredentials"))?),
        Some(_) => return Err(invalid("existingCredentials must be an object")),
    };
    if new.is_empty() {
        return Err(invalid("At least one of key, secret, mid is required"));
    }
    Ok(ConnectionPatch { new, existing })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        match parse_connection_patch(body.as_bytes()) {
            Err(ConnectionError::InvalidRequest(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn valid_patches_parse() {
        let p = parse_connection_patch(br#"{"secret":"new","existingCredentials":{"secret":"old"}}"#).unwrap();
        assert_eq!(p.new.fields(), [CredentialField::Secret]);
        assert_eq!(p.existing.unwrap().text(CredentialField::Secret), "old");
        let p = parse_connection_patch(br#"{"key":"k","mid":"m"}"#).unwrap();
        assert!(p.existing.is_none());
    }

    #[test]
    fn malformed_patches_are_400_with_a_message_that_shows_no_value() {
        assert!(message("{nope").starts_with("Request body is not valid JSON"));
        assert_eq!(message("[]"), "Request body must be a JSON object");
        assert_eq!(message("{}"), "At least one of key, secret, mid is required");
        assert_eq!(
            message(r#"{"existingCredentials":{"secret":"old"}}"#),
            "At least one of key, secret, mid is required"
        );
        assert_eq!(message(r#"{"secret":42}"#), "secret must be a string");
        assert_eq!(message(r#"{"secret":""}"#), "secret must be 1 to 2048 characters");
        assert_eq!(
            message(r#"{"sk_live_leaked":"x"}"#),
            "Request body has an unknown field; allowed fields are key, secret, mid, existingCredentials"
        );
        assert_eq!(message(r#"{"secret":"s","existingCredentials":"old"}"#), "existingCredentials must be an object");
        assert_eq!(
            message(r#"{"secret":"s","existingCredentials":{"secret":7}}"#),
            "existingCredentials.secret must be a string"
        );
        assert_eq!(
            message(r#"{"secret":"s","existingCredentials":{"existingCredentials":{}}}"#),
            "existingCredentials has an unknown field; allowed fields are key, secret, mid"
        );
    }
}
