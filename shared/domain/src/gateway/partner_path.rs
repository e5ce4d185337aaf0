//! The caller's partner path, checked so that it can only name a resource under the partner's base
//! URL. URL parsers resolve `..` (also `%2e%2e`), treat `\` as `/` and read `user@host` as an
//! authority, and partners may decode once more than we do; so every check runs on the path as sent
//! and again after each level of percent-decoding.

/// The longest partner path accepted.
pub const MAX_PATH_LEN: usize = 1024;
/// The longest query string accepted.
pub const MAX_QUERY_LEN: usize = 2048;
/// Levels of percent-encoding looked through; a path still encoded after that is refused.
const DECODE_LEVELS: usize = 3;

/// Why a partner path was refused; the message is safe to return (it never echoes the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPath(pub &'static str);

/// A partner path (and query) that stays under the base URL, as the caller encoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerPath {
    path: String,
    query: Option<String>,
}

/// Bytes allowed as they are in a path segment (RFC 3986 `pchar` without `@`, plus `%` escapes).
fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')')
        || matches!(b, b'*' | b'+' | b',' | b';' | b'=' | b':' | b'%')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One level of percent-decoding; `None` if an escape is malformed.
fn decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex(*bytes.get(i + 1)?)?;
            let low = hex(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// What no level of a segment or query may contain.
fn forbidden(bytes: &[u8]) -> Option<&'static str> {
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Some("the path must not contain CR or LF");
    }
    if bytes.contains(&0) {
        return Some("the path must not contain NUL");
    }
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Some("the path must not contain control characters");
    }
    if bytes.contains(&b'\\') {
        return Some("the path must not contain backslashes");
    }
    if bytes.windows(3).any(|w| w == b"://") {
        return Some("the path must be relative, not an absolute URL");
    }
    None
}

/// Checks one segment at every decoding level.
fn check_segment(raw: &str) -> Result<(), InvalidPath> {
    if raw.is_empty() {
        return Err(InvalidPath("the path must not contain empty segments (//)"));
    }
    if !raw.bytes().all(path_byte) {
        return Err(InvalidPath("the path contains a character that must be percent-encoded or is not allowed (@)"));
    }
    let mut level = raw.as_bytes().to_vec();
    for _ in 0..=DECODE_LEVELS {
        if let Some(why) = forbidden(&level) {
            return Err(InvalidPath(why));
        }
        if level == b"." || level == b".." {
            return Err(InvalidPath("the path must not contain . or .. segments"));
        }
        if level.contains(&b'@') {
            return Err(InvalidPath("the path must not contain @"));
        }
        if level.contains(&b'/') {
            return Err(InvalidPath("a segment must not contain an encoded /"));
        }
        if !level.contains(&b'%') {
            return Ok(());
        }
        level = decode(&level).ok_or(InvalidPath("the path has a malformed percent-escape"))?;
    }
    Err(InvalidPath("the path is percent-encoded too many times"))
}

fn check_query(raw: &str) -> Result<(), InvalidPath> {
    if raw.len() > MAX_QUERY_LEN {
        return Err(InvalidPath("the query string is too long"));
    }
    let allowed = |b: u8| path_byte(b) || matches!(b, b'/' | b'?' | b'@');
    if !raw.bytes().all(allowed) {
        return Err(InvalidPath("the query string contains a character that must be percent-encoded"));
    }
    let mut level = raw.as_bytes().to_vec();
    for _ in 0..=DECODE_LEVELS {
        if level.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(InvalidPath("the query string must not contain control characters"));
        }
        if !level.contains(&b'%') {
            return Ok(());
        }
        level = decode(&level).ok_or(InvalidPath("the query string has a malformed percent-escape"))?;
    }
    Err(InvalidPath("the query string is percent-encoded too many times"))
}

impl PartnerPath {
    /// Checks `path` (starting with `/`, as received) and `query` (without `?`).
    pub fn parse(path: &str, query: Option<&str>) -> Result<Self, InvalidPath> {
        if path.len() > MAX_PATH_LEN {
            return Err(InvalidPath("the path is too long"));
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(InvalidPath("the path must start with /"));
        };
        for segment in rest.split('/') {
            check_segment(segment)?;
        }
        let query = query.filter(|q| !q.is_empty());
        if let Some(query) = query {
            check_query(query)?;
        }
        Ok(Self { path: path.to_owned(), query: query.map(str::to_owned) })
    }

    /// The path as the caller encoded it, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The segments, as the allowlist matches them.
    pub fn segments(&self) -> Vec<&str> {
        self.path[1..].split('/').collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_partner_paths_and_queries_pass_unchanged() {
        for path in ["/pix/v1/transfers", "/pix/v1/transfers/E1234567820240101", "/dict/keys/12345678901", "/a/b%20c"] {
            let parsed = PartnerPath::parse(path, Some("page=2&size=10")).unwrap();
            assert_eq!((parsed.path(), parsed.query()), (path, Some("page=2&size=10")));
        }
        assert_eq!(PartnerPath::parse("/x", Some("")).unwrap().query(), None);
        assert_eq!(PartnerPath::parse("/pix/v1/x", None).unwrap().segments(), ["pix", "v1", "x"]);
    }

    #[test]
    fn every_way_out_of_the_base_is_refused() {
        for path in [
            "/pix/../admin",
            "/pix/./v1",
            "/..",
            "/pix/%2e%2e/admin",
            "/pix/%2E%2E/admin",
            "/pix/.%2e/admin",
            "/pix/%252e%252e/admin",
            "/pix/%25252e%25252e/admin",
            "/pix/%2525252e%2525252e/admin",
            "/pix/..%2fadmin",
            "/pix/a%2Fb",
            "/pix/a%252Fb",
            "//evil.example/pix",
            "/https://evil.example/pix",
            "/http:%2F%2Fevil.example",
            "/pix/user@evil.example",
            "/pix/user%40evil.example",
            "/pix/user%2540evil",
            "/pix\\..\\admin",
            "/pix/%5c..%5cadmin",
            "/pix/a%0d%0aX-Injected:1",
            "/pix/a%0a",
            "/pix/a\r\nb",
            "/pix/a%00b",
            "/pix/a%2500b",
            "/pix/a b",
            "/pix/é",
            "/pix/a%zz",
            "/pix/a%2",
            "pix/v1",
            "/",
            "/pix/",
        ] {
            assert!(PartnerPath::parse(path, None).is_err(), "{path:?} was accepted");
        }
        assert!(PartnerPath::parse(&format!("/{}", "a".repeat(MAX_PATH_LEN)), None).is_err());
    }

    #[test]
    fn queries_cannot_smuggle_control_characters_or_fragments() {
        for query in ["a=%0d%0aX:1", "a=%00", "a=%250a", "a=b#frag", "a=b c", "a=\n"] {
            assert!(PartnerPath::parse("/x", Some(query)).is_err(), "{query:?} was accepted");
        }
        assert!(PartnerPath::parse("/x", Some("key=a%40b.com&next=/p")).is_ok());
    }
}
