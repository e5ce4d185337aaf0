//! The tables in `codes.rs` against what the API promises: every answer in them is a response
//! example of `openapi.yaml` and a row of a table in `README.md` or `docs/*.md`, with its status and
//! message, and every code those document is in the tables.
//!
//! Neither file is parsed in full. `openapi.yaml` is read by indentation, enough for its response
//! examples (`code` / `statusCode` and `message` under `examples: NAME: value:`) and the status each
//! sits under (directly, or through a `$ref` to `#/components/responses/NAME`); the docs, by their
//! Markdown tables that have a `Status` column and a `` `code` `` or `` `message` `` column.

use std::collections::{BTreeMap, BTreeSet};

use super::codes::{AREAS, ErrorCode, PrecznAnswer, merchants};

const OPENAPI: &str = include_str!("../../../../openapi.yaml");
const README: &str = include_str!("../../../../README.md");

/// Answers of no operation (the JSON fallbacks for unknown routes and methods): documented in
/// docs/api.md, and by nature in no operation of `openapi.yaml`, which describes operations.
const NO_OPERATION: &[&str] = &["NOT_FOUND", "METHOD_NOT_ALLOWED"];

/// Whether `text` is `template` with each `{…}` filled by some non-empty text.
fn fills(template: &str, text: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        pieces.push(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    pieces.push(rest);
    let [first, middle @ .., last] = pieces.as_slice() else { return template == text };
    let Some(mut text) = text.strip_prefix(first).and_then(|t| t.strip_suffix(last)) else { return false };
    for piece in middle {
        let Some(at) = text.get(1..).and_then(|t| t.find(piece)) else { return false };
        text = &text[1 + at + piece.len()..];
    }
    !text.is_empty()
}

/// Whether a message is all filled in per answer (`{message}`): any text documents it.
fn dynamic(template: &str) -> bool {
    template.starts_with('{') && template.ends_with('}') && template.matches('{').count() == 1
}

// ---------------------------------------------------------------------------------------------
// openapi.yaml
// ---------------------------------------------------------------------------------------------

/// One response example: `code` (Pismo's shape) or `statusCode` (Preczn's), its message, and the
/// statuses it is answered under.
#[derive(Debug, Default)]
struct Example {
    at: String,
    code: Option<String>,
    status_code: Option<u16>,
    message: Option<String>,
    statuses: BTreeSet<u16>,
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        value.to_owned()
    }
}

/// `key: value` (or `key:`), the key unquoted.
fn key_value(line: &str) -> Option<(String, &str)> {
    if let Some(quoted) = line.strip_prefix('\'') {
        let end = quoted.find('\'')?;
        let rest = quoted[end + 1..].strip_prefix(':')?;
        return Some((quoted[..end].to_owned(), rest.trim()));
    }
    match line.find(": ") {
        Some(at) => Some((line[..at].to_owned(), line[at + 2..].trim())),
        None => line.strip_suffix(':').map(|key| (key.to_owned(), "")),
    }
}

/// The status a path of keys sits under: the three digits after `responses`.
fn status_in(path: &[String]) -> Option<u16> {
    let at = path.iter().position(|k| k == "responses")?;
    path.get(at + 1).filter(|k| k.len() == 3).and_then(|k| k.parse().ok())
}

/// Every response example of the document.
fn openapi_examples(yaml: &str) -> Vec<Example> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut examples: BTreeMap<String, Example> = BTreeMap::new();
    let mut statuses_of_response: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - body.len();
        let body = match body.strip_prefix("- ") {
            Some(item) => {
                indent += 2;
                item
            }
            None => body,
        };
        let Some((key, value)) = key_value(body) else { continue };
        // A scalar value goes on over the more indented lines after it (folded, or a block `|`).
        let mut value = value.to_owned();
        if !value.is_empty() {
            let block = value.starts_with('|') || value.starts_with('>');
            while let Some(next) = lines.get(i) {
                let text = next.trim_start();
                if !text.is_empty() && next.len() - text.len() <= indent {
                    break;
                }
                if !block && !text.is_empty() {
                    value.push(' ');
                    value.push_str(text);
                }
                i += 1;
            }
        }
        while path.last().is_some_and(|(at, _)| *at >= indent) {
            path.pop();
        }
        path.push((indent, key.clone()));
        let keys: Vec<String> = path.iter().map(|(_, k)| k.clone()).collect();
        let value = unquote(&value);
        if key == "$ref"
            && let Some(name) = value.strip_prefix("#/components/responses/")
            && let Some(status) = status_in(&keys)
        {
            statuses_of_response.entry(name.to_owned()).or_default().insert(status);
        }
        let n = keys.len();
        if n < 4 || keys[n - 2] != "value" || keys[n - 4] != "examples" {
            continue;
        }
        let example = examples.entry(keys[..n - 1].join("/")).or_default();
        match key.as_str() {
            "code" => example.code = Some(value),
            "statusCode" => example.status_code = value.parse().ok(),
            "message" => example.message = Some(value),
            _ => continue,
        }
        example.at = keys[..n - 2].join(" > ");
        if let Some(status) = status_in(&keys) {
            example.statuses.insert(status);
        }
    }
    for example in examples.values_mut() {
        let parts: Vec<&str> = example.at.split(" > ").collect();
        if let ["components", "responses", name, ..] = parts.as_slice() {
            example.statuses.extend(statuses_of_response.get(*name).into_iter().flatten());
        }
    }
    examples.into_values().filter(|e| e.code.is_some() || e.status_code.is_some()).collect()
}

// ---------------------------------------------------------------------------------------------
// README.md and docs/*.md
// ---------------------------------------------------------------------------------------------

/// One documented answer: a row of a table with a `Status` column.
#[derive(Debug)]
struct Row {
    file: String,
    status: u16,
    /// The `` `code` `` column, if the table has one and the row gives a code.
    code: Option<String>,
    /// The first `` `…` `` of the `` `message` `` column, if the row gives one that way.
    message: Option<String>,
    /// Whether the table is Preczn's shape (a `` `message` `` column and no `` `code` ``).
    preczn: bool,
}

fn cells(line: &str) -> Vec<String> {
    let line = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '|' if !escaped => cells.push(String::new()),
            _ => cells.last_mut().into_iter().for_each(|cell| cell.push(c)),
        }
        escaped = c == '\\';
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

fn backticked(cell: &str) -> Option<String> {
    cell.strip_prefix('`').and_then(|rest| rest.split_once('`')).map(|(inside, _)| inside.to_owned())
}

fn doc_rows(file: &str, text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with('|') {
            i += 1;
            continue;
        }
        let header = cells(lines[i]);
        let column = |name: &str| header.iter().position(|h| h == name);
        let (status, code, message) = (column("Status"), column("`code`"), column("`message`"));
        i += 2;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            let row = cells(lines[i]);
            i += 1;
            let Some(status) = status.and_then(|s| row.get(s)).and_then(|s| s.parse::<u16>().ok()) else { continue };
            if status < 400 || (code.is_none() && message.is_none()) {
                continue;
            }
            let code_cell = code.and_then(|c| row.get(c)).and_then(|c| backticked(c));
            if code.is_some() && code_cell.is_none() {
                continue;
            }
            rows.push(Row {
                file: file.to_owned(),
                status,
                code: code_cell,
                message: message.and_then(|m| row.get(m)).and_then(|m| backticked(m)),
                preczn: code.is_none(),
            });
        }
    }
    rows
}

/// README.md and every docs/*.md, by name.
fn docs() -> Vec<(String, String)> {
    let mut docs = vec![("README.md".to_owned(), README.to_owned())];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "md")) {
        let name = format!("docs/{}", file.file_name().unwrap().to_string_lossy());
        docs.push((name, std::fs::read_to_string(&file).unwrap()));
    }
    docs
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

fn pismo_entries() -> impl Iterator<Item = (&'static str, &'static ErrorCode)> {
    AREAS.iter().flat_map(|(area, entries)| entries.iter().map(move |e| (*area, e)))
}

#[test]
fn the_reader_finds_what_the_tables_need_to_be_checked_against() {
    assert!(fills("{provider} - API Invalid credential", "BTG - API Invalid credential"));
    assert!(fills("Invalid payload. Required fields: [{fields}]", "Invalid payload. Required fields: [key]"));
    assert!(fills(
        "Unsupported Type: ({type}) and Provider ({provider})",
        "Unsupported Type: (BAAS) and Provider (JDPI)"
    ));
    assert!(!fills("Unsupported Type: ({type}) and Provider ({provider})", "Unsupported Type: () and Provider (JDPI)"));
    assert!(!fills("Gateway Timeout", "Gateway Timeout!") && fills("Gateway Timeout", "Gateway Timeout"));
    assert!(fills("{message}", "anything") && !fills("{message}", ""));

    let yaml = "components:\n  responses:\n    Shared:\n      content:\n        application/json:\n          examples:\n            A:\n              value:\n                code: X1\n                message: 'it''s one\n                  line'\npaths:\n  /p:\n    get:\n      description: |\n        code: NOT_AN_EXAMPLE\n      responses:\n        '404':\n          $ref: '#/components/responses/Shared'\n        '400':\n          content:\n            application/json:\n              examples:\n                B:\n                  value:\n                    statusCode: 400\n                    message: Bad\n";
    let examples = openapi_examples(yaml);
    assert_eq!(examples.len(), 2, "{examples:?}");
    assert_eq!(examples[0].code.as_deref(), Some("X1"));
    assert_eq!(examples[0].message.as_deref(), Some("it's one line"));
    assert_eq!(examples[0].statuses, BTreeSet::from([404]));
    assert_eq!((examples[1].status_code, examples[1].statuses.first()), (Some(400), Some(&400)));

    let md = "| Case | Status | `code` | `message` |\n|---|---|---|---|\n| ok | 200 | – | `{}` |\n| a \\| b | 404 | `X1` | `Not \\| found` (more) |\n\n| Step | Status | `message` |\n|---|---|---|\n| 1 | 409 | `Conflict` |\n| 2 | 400 | says which |\n";
    let rows = doc_rows("t.md", md);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!((rows[0].status, rows[0].code.as_deref(), rows[0].preczn), (404, Some("X1"), false));
    assert_eq!((rows[1].status, rows[1].message.as_deref(), rows[1].preczn), (409, Some("Conflict"), true));
    assert_eq!(rows[2].message, None);
}

#[test]
fn every_answer_in_the_tables_is_an_example_of_openapi_and_every_example_is_in_the_tables() {
    let examples = openapi_examples(OPENAPI);
    let mut faults = Vec::new();
    let shows = |e: &Example, status: u16, message: &str| {
        e.statuses.contains(&status) && e.message.as_deref().is_some_and(|m| fills(message, m))
    };
    for (area, entry) in pismo_entries().filter(|(_, e)| !NO_OPERATION.contains(&e.code)) {
        let status = entry.status.as_u16();
        if !examples.iter().any(|e| e.code.as_deref() == Some(entry.code) && shows(e, status, entry.message)) {
            faults.push(format!("{area}: {} {status} {:?} is no response example", entry.code, entry.message));
        }
    }
    for answer in merchants::ALL {
        let status = answer.status.as_u16();
        if !examples.iter().any(|e| e.status_code == Some(status) && shows(e, status, answer.message)) {
            faults.push(format!("merchants: {status} {:?} is no response example", answer.message));
        }
    }
    for example in &examples {
        let known = match (&example.code, example.status_code) {
            (Some(code), _) => pismo_entries()
                .any(|(_, entry)| entry.code == code && shows(example, entry.status.as_u16(), entry.message)),
            (None, Some(status)) => {
                merchants::ALL.iter().any(|a| a.status.as_u16() == status && shows(example, status, a.message))
            }
            (None, None) => true,
        };
        if !known || example.statuses.is_empty() {
            faults.push(format!("openapi.yaml {}: {example:?} is in no table", example.at));
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn every_answer_in_the_tables_is_documented_and_every_documented_code_is_in_the_tables() {
    let docs = docs();
    let rows: Vec<Row> = docs.iter().flat_map(|(file, text)| doc_rows(file, text)).collect();
    let documents = |row: &Row, status: u16, template: &str| {
        row.status == status
            && match &row.message {
                Some(message) => fills(template, message),
                None => dynamic(template),
            }
    };
    let mut faults = Vec::new();
    for (area, entry) in pismo_entries() {
        let status = entry.status.as_u16();
        if !rows.iter().any(|r| r.code.as_deref() == Some(entry.code) && documents(r, status, entry.message)) {
            faults.push(format!("{area}: {} {status} {:?} is in no table of the docs", entry.code, entry.message));
        }
    }
    for answer in merchants::ALL {
        let (status, message) = (answer.status.as_u16(), answer.message);
        if !rows.iter().any(|r| r.preczn && documents(r, status, message)) {
            faults.push(format!("merchants: {status} {message:?} is in no table of the docs"));
        }
    }
    let same = |row: &Row, status: u16, template: &str| {
        row.status == status && row.message.as_deref().is_none_or(|m| fills(template, m))
    };
    for row in &rows {
        let known = match &row.code {
            Some(code) => pismo_entries().any(|(_, e)| e.code == code && same(row, e.status.as_u16(), e.message)),
            None => merchants::ALL.iter().any(|a: &PrecznAnswer| same(row, a.status.as_u16(), a.message)),
        };
        if !known {
            faults.push(format!("{}: {row:?} is in no table", row.file));
        }
    }
    // Codes named in prose too: a typo there is a code nobody answers.
    let codes: BTreeSet<&str> = pismo_entries().map(|(_, e)| e.code).collect();
    for (file, text) in &docs {
        for (at, _) in text.match_indices("EBAA") {
            let code = &text[at..text.len().min(at + 8)];
            if code[4..].bytes().all(|b| b.is_ascii_digit()) && code.len() == 8 && !codes.contains(code) {
                faults.push(format!("{file}: {code} is in no table"));
            }
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}
