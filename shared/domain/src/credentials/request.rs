use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{CredentialError, CredentialType, Provider};
use crate::secret::SecretString;

/// The most bytes a key may have: partner keys are short; this bounds what we seal and send.
const MAX_KEY_LEN: usize = 4096;
/// Bounds on `provider_data`, which is stored in clear beside the sealed key.
const MAX_PROVIDER_DATA_ENTRIES: usize = 16;
const MAX_PROVIDER_DATA_VALUE_LEN: usize = 512;

/// Non-secret partner metadata sent beside the key (`client_id`, `username`…), stored in clear.
pub type ProviderData = BTreeMap<String, String>;

/// A create-or-replace request that has passed every payload rule: from here on, trust the types.
#[derive(Debug)]
pub struct CredentialRequest {
    /// The partner's API key. Never logged, never returned, sealed before it is stored.
    pub key: SecretString,
    /// The partner.
    pub provider: Provider,
    /// What the key is for; `provider.supports(credential_type)` holds.
    pub credential_type: CredentialType,
    /// The partner's non-secret fields; every one the partner requires is present and non-empty.
    pub provider_data: ProviderData,
}

impl CredentialRequest {
    /// A `provider_data` field the partner requires (present by construction).
    pub fn provider_field(&self, name: &str) -> &str {
        self.provider_data.get(name).map_or("", String::as_str)
    }
}

fn invalid(detail: impl Into<String>) -> CredentialError {
    CredentialError::InvalidPayload { detail: detail.into() }
}

/// Echoes a provider or type name in the documented `EBAA0007` message only if it is one we know:
/// anything else (which could be a misplaced secret) is never logged or returned.
fn echo(raw: &str) -> String {
    let known = raw.parse::<Provider>().is_ok() || raw.parse::<CredentialType>().is_ok();
    if known { raw.to_owned() } else { "unrecognised".to_owned() }
}

/// Reads an optional string field; a non-string is a type error whose message never shows the value.
fn string_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, CredentialError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("field `{name}` must be a string"))),
    }
}

/// Parses and validates a request body, in the documented order: shape and types (`EBAA0004`), then
/// the type/provider pair when both are given (`EBAA0007`, whatever else the body lacks: which
/// fields a partner requires depends on the pair), then missing fields including the partner's
/// `provider_data` fields (`EBAA0005`).
pub fn parse_credential_request(body: &[u8]) -> Result<CredentialRequest, CredentialError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's syntax errors carry a position only, never input text.
        invalid(format!("body is not valid JSON (line {}, column {})", e.line(), e.column()))
    })?;
    let Value::Object(body) = value else {
        return Err(invalid("body must be a JSON object"));
    };
    if let Some(unknown) = body.keys().find(|k| !matches!(k.as_str(), "key" | "provider" | "type" | "provider_data")) {
        // The name itself is not echoed: a misplaced secret can sit in a field name as well as a value.
        let _ = unknown;
        return Err(invalid("unknown field; allowed fields are key, provider, type, provider_data"));
    }

    let key = string_field(&body, "key")?;
    let provider = string_field(&body, "provider")?;
    let credential_type = string_field(&body, "type")?;
    let provider_data = match body.get("provider_data") {
        None | Some(Value::Null) => ProviderData::new(),
        Some(Value::Object(map)) => {
            if map.len() > MAX_PROVIDER_DATA_ENTRIES {
                return Err(invalid(format!("provider_data has more than {MAX_PROVIDER_DATA_ENTRIES} fields")));
            }
            map.iter()
                .map(|(k, v)| match v {
                    Value::String(s) if s.len() <= MAX_PROVIDER_DATA_VALUE_LEN => Ok((k.clone(), s.clone())),
                    Value::String(_) => Err(invalid(format!(
                        "provider_data values must be at most {MAX_PROVIDER_DATA_VALUE_LEN} characters"
                    ))),
                    _ => Err(invalid("provider_data values must be strings")),
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(invalid("field `provider_data` must be an object")),
    };
    if key.as_ref().is_some_and(|k| k.len() > MAX_KEY_LEN) {
        return Err(invalid(format!("field `key` is longer than {MAX_KEY_LEN} bytes")));
    }
    let key = key.map(SecretString::new);

    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    if let (false, false, Some(provider_raw), Some(type_raw)) =
        (blank(&provider), blank(&credential_type), provider.as_deref(), credential_type.as_deref())
    {
        let pair = provider_raw.parse::<Provider>().ok().zip(type_raw.parse::<CredentialType>().ok());
        if !pair.is_some_and(|(provider, credential_type)| provider.supports(credential_type)) {
            return Err(CredentialError::UnsupportedPair {
                credential_type: echo(type_raw),
                provider: echo(provider_raw),
            });
        }
    }
    let mut missing = Vec::new();
    if key.as_ref().is_none_or(|k| k.expose().is_empty()) {
        missing.push("key".to_owned());
    }
    if blank(&provider) {
        missing.push("provider".to_owned());
    }
    if blank(&credential_type) {
        missing.push("type".to_owned());
    }
    let known_provider = provider.as_deref().and_then(|p| p.parse::<Provider>().ok());
    if let Some(p) = known_provider {
        for field in p.required_provider_data() {
            if provider_data.get(*field).is_none_or(|v| v.trim().is_empty()) {
                missing.push(format!("provider_data.{field}"));
            }
        }
    }
    let (Some(key), Some(provider_raw), Some(type_raw), true) = (key, provider, credential_type, missing.is_empty())
    else {
        return Err(CredentialError::MissingFields(missing));
    };

    if let Some(provider) = known_provider {
        let accepted = provider.accepted_provider_data();
        if provider_data.keys().any(|k| !accepted.contains(&k.as_str())) {
            return Err(invalid(format!("provider_data accepts only {} for {provider}", accepted.join(", "))));
        }
    }
    let pair = known_provider.zip(type_raw.parse::<CredentialType>().ok());
    match pair {
        Some((provider, credential_type)) if provider.supports(credential_type) => {
            Ok(CredentialRequest { key, provider, credential_type, provider_data })
        }
        _ => Err(CredentialError::UnsupportedPair { credential_type: echo(&type_raw), provider: echo(&provider_raw) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<CredentialRequest, CredentialError> {
        parse_credential_request(body.as_bytes())
    }

    fn detail(body: &str) -> String {
        match parse(body) {
            Err(CredentialError::InvalidPayload { detail }) => detail,
            other => panic!("expected InvalidPayload, got {other:?}"),
        }
    }

    fn missing(body: &str) -> Vec<String> {
        match parse(body) {
            Err(CredentialError::MissingFields(fields)) => fields,
            other => panic!("expected MissingFields, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_parses() {
        let req = parse(r#"{"key":"k-1","provider":"BTG","type":"PIX","provider_data":{"client_id":"c1"}}"#).unwrap();
        assert_eq!((req.provider, req.credential_type), (Provider::Btg, CredentialType::Pix));
        assert_eq!(req.key.expose(), "k-1");
        assert_eq!(req.provider_field("client_id"), "c1");
    }

    #[test]
    fn malformed_or_mistyped_bodies_are_invalid_payloads_that_never_echo_the_key() {
        assert!(detail("{not json").contains("not valid JSON"));
        assert_eq!(detail("[1,2]"), "body must be a JSON object");
        assert_eq!(detail(r#"{"key":7306900021,"provider":"BTG","type":"PIX"}"#), "field `key` must be a string");
        assert_eq!(detail(r#"{"key":"k","provider":1,"type":"PIX"}"#), "field `provider` must be a string");
        assert_eq!(
            detail(r#"{"key":"k","provider":"BTG","type":"PIX","provider_data":"x"}"#),
            "field `provider_data` must be an object"
        );
        assert_eq!(
            detail(r#"{"key":"k","provider":"BTG","type":"PIX","provider_data":{"client_id":5}}"#),
            "provider_data values must be strings"
        );
        assert_eq!(
            detail(r#"{"key":"k","provider":"BTG","type":"PIX","sk_live_123":1}"#),
            "unknown field; allowed fields are key, provider, type, provider_data"
        );
        assert!(
            detail(&format!(r#"{{"key":"{}","provider":"BTG","type":"PIX"}}"#, "k".repeat(5000)))
                .contains("longer than")
        );
        let err = parse(r#"{"key":["secret-in-array"],"provider":"BTG","type":"PIX"}"#).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("secret-in-array"));
    }

    #[test]
    fn missing_fields_are_named_exactly_including_provider_data() {
        assert_eq!(missing("{}"), ["key", "provider", "type"]);
        assert_eq!(missing(r#"{"key":"","provider":"BTG","type":"PIX"}"#), ["key", "provider_data.client_id"]);
        assert_eq!(
            missing(r#"{"key":"k","provider":"PAY2ALL","type":"PAY2ALL","provider_data":{"username":" "}}"#),
            ["provider_data.username"]
        );
        assert_eq!(missing(r#"{"key":"k","provider":"CELCOIN"}"#), ["type", "provider_data.client_id"]);
        assert_eq!(missing(r#"{"key":"k","provider":null,"type":"PIX"}"#), ["provider"]);
    }

    #[test]
    fn provider_data_accepts_only_the_partners_fields() {
        let body = r#"{"key":"k","provider":"BTG","type":"PIX","provider_data":{"client_id":"c","client_secret":"s"}}"#;
        assert_eq!(detail(body), "provider_data accepts only client_id for BTG");
        let body =
            r#"{"key":"k","provider":"PAY2ALL","type":"PAY2ALL","provider_data":{"username":"u","client_id":"c"}}"#;
        assert_eq!(detail(body), "provider_data accepts only username for PAY2ALL");
    }

    #[test]
    fn unsupported_or_unknown_pairs_are_rejected_with_both_names() {
        for (body, t, p) in [
            (r#"{"key":"k","provider":"JDPI","type":"BAAS","provider_data":{"client_id":"c"}}"#, "BAAS", "JDPI"),
            (r#"{"key":"k","provider":"PAY2ALL","type":"PIX","provider_data":{"username":"u"}}"#, "PIX", "PAY2ALL"),
            (r#"{"key":"k","provider":"NUBANK","type":"PIX"}"#, "PIX", "unrecognised"),
            (r#"{"key":"k","provider":"BTG","type":"TED","provider_data":{"client_id":"c"}}"#, "unrecognised", "BTG"),
            (r#"{"key":"k","provider":"sk-live/abc+def==","type":"PIX"}"#, "PIX", "unrecognised"),
            // The pair is decided before what the partner would require, whatever else is missing.
            (r#"{"provider":"JDPI","type":"BAAS"}"#, "BAAS", "JDPI"),
            (r#"{"key":"","provider":"PAY2ALL","type":"PIX"}"#, "PIX", "PAY2ALL"),
            (r#"{"provider":"NUBANK","type":"BAAS","provider_data":{}}"#, "BAAS", "unrecognised"),
        ] {
            match parse(body) {
                Err(CredentialError::UnsupportedPair { credential_type, provider }) => {
                    assert_eq!((credential_type.as_str(), provider.as_str()), (t, p));
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
