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
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

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

fn account_body(id: u64, available: i64) -> String {
    format!(
        r#"{{"tenant":"{TENANT}","id":{id},"program_id":1,"document_number":"{:011}","status":"NORMAL","currency":"BRL","limit":100000000000,"available":{available},"held":{},"bank":null,"cards":[]}}"#,
        90_000_000_000_u64 + id,
        100_000_000_000 - available
    )
}

/// The read before a decision: the tracking record (absent) and the account, one snapshot.
fn read_before(path: &Path, pk: &str, track: &str, account: &str) -> Result<bool, StoreError> {
    READER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let connection = match cell.as_mut() {
            Some(connection) => connection,
            None => cell.insert(Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(failed)?),
        };
        let get = |sk: &str| -> Result<Option<String>, StoreError> {
            let mut statement =
                connection.prepare_cached("SELECT body FROM items WHERE pk = ?1 AND sk = ?2").map_err(failed)?;
            statement.query_row(params![pk, sk], |row| row.get(0)).optional().map_err(failed)
        };
        connection.prepare_cached("BEGIN").and_then(|mut s| s.execute([])).map_err(failed)?;
        let found = get(track).and_then(|track| Ok(track.is_none() && get(account)?.is_some()));
        connection.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map_err(failed)?;
        found
    })
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
    let written = peer
        .store
        .transaction(move |tx| {
            let (version, body): (i64, String) = tx
                .prepare_cached("SELECT version, body FROM items WHERE pk = ?1 AND sk = ?2")
                .and_then(|mut s| s.query_row(params![pk, account], |row| Ok((row.get(0)?, row.get(1)?))))
                .map_err(failed)?;
            let available = body
                .split_once(r#""available":"#)
                .and_then(|(_, rest)| rest.split(',').next()?.parse::<i64>().ok())
                .ok_or_else(|| failed("no available amount"))?;
            let updated = tx
                .prepare_cached("UPDATE items SET version = ?3, body = ?4 WHERE pk = ?1 AND sk = ?2 AND version = ?5")
                .and_then(|mut s| {
                    s.execute(params![
                        pk,
                        account,
                        version + 1,
                        account_body(decision.account_id, available - 1),
                        version
                    ])
                })
                .map_err(failed)?;
            if updated != 1 {
                return Err(failed("the account changed"));
            }
            let mut insert = tx
                .prepare_cached("INSERT INTO items (pk, sk, version, body) VALUES (?1, ?2, 1, ?3)")
                .map_err(failed)?;
            insert.execute(params![pk, track, padded(&track, TRACK_BYTES)]).map_err(failed)?;
            let authorization = format!("AUTH#{id}");
            insert.execute(params![pk, authorization, padded(&authorization, AUTHORIZATION_BYTES)]).map_err(failed)?;
            let mut event = tx.prepare_cached("INSERT INTO events (tenant, body) VALUES (?1, ?2)").map_err(failed)?;
            for bytes in EVENT_BYTES {
                event.execute(params![TENANT, padded(&authorization, bytes)]).map_err(failed)?;
            }
            let due_ms = i64::try_from(id % 604_800_000).unwrap_or(0);
            tx.prepare_cached("INSERT INTO due_holds (tenant, authorization_id, due_ms) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![TENANT, i64::try_from(id).unwrap_or(i64::MAX), due_ms]))
                .map_err(failed)?;
            Ok::<_, StoreError>(())
        })
        .await;
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
                    tx.execute(
                        "INSERT INTO items (pk, sk, version, body) VALUES (?1, ?2, 1, ?3)",
                        params![pk, format!("ACCOUNT#{id}"), account_body(id, 100_000_000_000)],
                    )
                    .map_err(failed)?;
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
    let line = format!(
        "store peer after SIGKILL: {acknowledged} decisions acknowledged; {decisions} recorded, {events} events"
    );
    if decisions != acknowledged || events != 2 * acknowledged {
        return Err(format!("{line}: DOES NOT ADD UP").into());
    }
    Ok(format!("{line}: adds up"))
}
