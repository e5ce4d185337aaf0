//! The store peer: what a decision costs the embedded store alone, served over the same HTTP.
//!
//! An axum server (as many workers as CPUs, mimalloc, as `cofre-local serve`) over an
//! [`EmbeddedStore`] of its own. Per request it does what the store does for a `0100` by
//! `account_id`, and nothing of Cofre's domain: it parses the body for the account and the
//! tracking id, reads the tracking record and the account in one read transaction on a reader
//! connection, then makes one write in the writer's next batch (its own savepoint, the batch's
//! synced commit): the account's conditional update, the tracking record and the authorization
//! (rows of the sizes Cofre writes), its two events and its due hold. It answers the floor's JSON.
//!
//! So the authorize phase against this one splits the server's cost in two: the store with every
//! guarantee it gives (atomic, isolated, durable when answered), and everything else (identity,
//! the rules, the records' JSON, the log line).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use cofre_domain::store::StoreError;
use cofre_local::EmbeddedStore;
use rusqlite::{Connection, OptionalExtension, params};

use super::{AUTHORIZE, FLOOR_ANSWER, Failure, TENANT};

/// The sizes of what one approved `0100` writes, measured on `cofre-local` (bytes of JSON).
const TRACK_BYTES: usize = 1_814;
const AUTHORIZATION_BYTES: usize = 1_897;
const EVENT_BYTES: [usize; 2] = [553, 356];

struct Peer {
    store: EmbeddedStore,
    path: PathBuf,
    next_id: AtomicU64,
}

thread_local! {
    /// Each worker's read-only connection, as the store keeps idle readers.
    static READER: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

#[derive(serde::Deserialize)]
struct Decision {
    account_id: u64,
    tracking_id: String,
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A JSON-ish text of `len` bytes: what SQLite stores is the size, not the words.
fn padded(prefix: &str, len: usize) -> String {
    let mut text = format!(r#"{{"id":"{prefix}","pad":""#);
    text.push_str(&"x".repeat(len.saturating_sub(text.len() + 2)));
    text.push_str(r#""}"#);
    text
}

/// The limit and starting balance of every account, in cents.
const FULL_BALANCE: u64 = 100_000_000_000;

/// An account as `cofre-local seed` stores it, its settings in the same body.
fn account_body(id: u64) -> String {
    format!(
        r#"{{"tenant":"{TENANT}","id":{id},"program_id":1,"document_number":"{:011}","status":"NORMAL","currency":"BRL","limit":{FULL_BALANCE},"available":{FULL_BALANCE},"held":0,"bank":null,"cards":[]}}"#,
        90_000_000_000_u64 + id
    )
}

/// What the embedded store's statements are (`infra/local/src/embedded/`): the peer runs the same.
const READ: &str = "SELECT body FROM items WHERE pk = ?1 AND sk = ?2";
const WRITE: &str = "INSERT INTO items (pk, sk, version, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, body = excluded.body";
const DUE: &str = "INSERT INTO due_holds (tenant, authorization_id, due_ms) VALUES (?1, ?2, ?3)
                   ON CONFLICT (tenant, authorization_id) DO UPDATE SET due_ms = excluded.due_ms";
const EVENT: &str = "INSERT INTO events (tenant, body) VALUES (?1, ?2)";
/// How long a hold lasts before it is due (the default of `docs/hold-expiry.md`).
const HOLD_MS: i64 = 7 * 24 * 3_600_000;

fn read_body(connection: &Connection, pk: &str, sk: &str) -> Result<Option<String>, StoreError> {
    let mut statement = connection.prepare_cached(READ).map_err(failed)?;
    statement.query_row(params![pk, sk], |row| row.get(0)).optional().map_err(failed)
}

fn write_body(connection: &Connection, pk: &str, sk: &str, version: i64, body: &str) -> Result<(), StoreError> {
    connection.prepare_cached(WRITE).and_then(|mut s| s.execute(params![pk, sk, version, body])).map_err(failed)?;
    Ok(())
}

/// The read before a decision: the tracking record (absent) and the account (which holds its
/// settings too), in one snapshot, on this worker's reader connection, opened as the store opens
/// its readers.
fn read_before(path: &Path, pk: &str, track: &str, account: &str) -> Result<bool, StoreError> {
    READER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let connection = match cell.as_mut() {
            Some(connection) => connection,
            None => {
                let connection = Connection::open(path).map_err(failed)?;
                connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(failed)?;
                connection.pragma_update(None, "query_only", true).map_err(failed)?;
                cell.insert(connection)
            }
        };
        let run = |sql: &str| connection.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(failed);
        let found = run("BEGIN").and_then(|_| {
            let found = read_body(connection, pk, track)?.is_none() && read_body(connection, pk, account)?.is_some();
            run("COMMIT").map(|_| found)
        });
        if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        found
    })
}

/// The write of one approved decision, in the order the embedded ledger's `commit` makes it.
fn write_decision(
    tx: &rusqlite::Transaction<'_>,
    pk: &str,
    track: &str,
    account: &str,
    id: u64,
) -> Result<(), StoreError> {
    if read_body(tx, pk, track)?.is_some() {
        return Err(failed("a duplicate"));
    }
    // The balance: read, decoded as the account and as its settings, moved, encoded back.
    let body = read_body(tx, pk, account)?.ok_or_else(|| failed("no account"))?;
    let mut account_value: serde_json::Value = serde_json::from_str(&body).map_err(failed)?;
    let _settings: serde_json::Value = serde_json::from_str(&body).map_err(failed)?;
    let available = account_value["available"].as_i64().ok_or_else(|| failed("no available amount"))?;
    account_value["available"] = (available - 1).into();
    account_value["held"] = (account_value["held"].as_i64().unwrap_or(0) + 1).into();
    write_body(tx, pk, account, 0, &serde_json::to_string(&account_value).map_err(failed)?)?;
    let authorization = format!("AUTH#{id}");
    if read_body(tx, pk, &authorization)?.is_some() {
        return Err(failed("the authorization exists"));
    }
    write_body(tx, pk, &authorization, 1, &padded(&authorization, AUTHORIZATION_BYTES))?;
    let now_ms =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(failed)?.as_millis())
            .map_err(failed)?;
    let id = i64::try_from(id).map_err(failed)?;
    tx.prepare_cached(DUE).and_then(|mut s| s.execute(params![TENANT, id, now_ms + HOLD_MS])).map_err(failed)?;
    write_body(tx, pk, track, 0, &padded(track, TRACK_BYTES))?;
    let mut event = tx.prepare_cached(EVENT).map_err(failed)?;
    for bytes in EVENT_BYTES {
        event.execute(params![TENANT, padded(&authorization, bytes)]).map_err(failed)?;
    }
    Ok(())
}

async fn decide(State(peer): State<Arc<Peer>>, body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(decision) = serde_json::from_slice::<Decision>(&body) else {
        return http::StatusCode::BAD_REQUEST.into_response();
    };
    let pk = format!("TENANT#{TENANT}");
    let track = format!("TRACK#{}", decision.tracking_id);
    let account = format!("ACCOUNT#{}", decision.account_id);
    match read_before(&peer.path, &pk, &track, &account) {
        Ok(true) => {}
        Ok(false) => return http::StatusCode::CONFLICT.into_response(),
        Err(_) => return http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    let id = peer.next_id.fetch_add(1, Ordering::Relaxed);
    let written = peer.store.transaction(move |tx| write_decision(tx, &pk, &track, &account, id)).await;
    match written {
        Ok(()) => ([(http::header::CONTENT_TYPE, "application/json")], FLOOR_ANSWER).into_response(),
        Err(_) => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Serves the store peer on `addr` over a fresh store in `dir` holding `accounts` accounts; never
/// returns.
pub fn serve(addr: SocketAddr, dir: &Path, accounts: u64) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let store = EmbeddedStore::open(dir)?;
        store
            .transaction(move |tx| {
                let pk = format!("TENANT#{TENANT}");
                for id in 1..=accounts {
                    write_body(tx, &pk, &format!("ACCOUNT#{id}"), 0, &account_body(id))?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        let first_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros();
        let peer =
            Arc::new(Peer { path: store.path().to_owned(), store, next_id: AtomicU64::new(u64::try_from(first_id)?) });
        let router = axum::Router::new().route(AUTHORIZE, axum::routing::post(decide)).with_state(peer);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        axum::serve(listener, router).await?;
        Ok(())
    })
}

/// After the run: every decision the peer acknowledged is in its store, with its two events.
pub fn check(db: &Path, acknowledged: u64) -> Result<String, Failure> {
    let connection = Connection::open(db)?;
    let count = |sql: &str| connection.query_row(sql, [], |row| row.get::<_, u64>(0));
    let decisions = count("SELECT count(*) FROM items WHERE sk LIKE 'TRACK#%'")?;
    let events = count("SELECT count(*) FROM events")?;
    let holds = count("SELECT count(*) FROM due_holds")?;
    let mut spent = 0_u64;
    let mut statement = connection.prepare("SELECT body FROM items WHERE sk LIKE 'ACCOUNT#%'")?;
    for body in statement.query_map([], |row| row.get::<_, String>(0))? {
        let account: serde_json::Value = serde_json::from_str(&body?)?;
        let available = account["available"].as_u64().ok_or("no available amount")?;
        spent += FULL_BALANCE.checked_sub(available).ok_or("more available than the limit")?;
    }
    let line = format!(
        "store peer after SIGKILL: {acknowledged} decisions acknowledged; {decisions} recorded, {events} events, \
         {holds} holds, {spent} cents spent"
    );
    if decisions != acknowledged || events != 2 * acknowledged || holds != acknowledged || spent != acknowledged {
        return Err(format!("{line}: DOES NOT ADD UP").into());
    }
    Ok(format!("{line}: adds up"))
}
