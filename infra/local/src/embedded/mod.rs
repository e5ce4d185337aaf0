//! The embedded store: one SQLite file under the data directory.
//!
//! It mirrors the DynamoDB single-table layout (`pk`, `sk`, a `version`, the item body as JSON) and
//! gives the same guarantees: every write is one transaction, conditional writes check the version
//! inside it. SQLite's file locking lets the admin CLI read and seed while the server runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

mod credentials;
mod ledger;
mod merchants;

use cofre_domain::store::StoreError;

/// A file-backed store; cheap to clone, one connection shared behind a mutex.
#[derive(Clone)]
pub struct EmbeddedStore {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("path", &self.path).finish()
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl EmbeddedStore {
    /// The database file's name inside the data directory.
    pub const FILE_NAME: &'static str = "cofre.db";

    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(unavailable)?;
        let path = data_dir.join(Self::FILE_NAME);
        let connection = Connection::open(&path).map_err(unavailable)?;
        connection.busy_timeout(Duration::from_secs(10)).map_err(unavailable)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS items (
                     pk TEXT NOT NULL,
                     sk TEXT NOT NULL,
                     version INTEGER NOT NULL,
                     body TEXT NOT NULL,
                     PRIMARY KEY (pk, sk)
                 ) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS events (
                     seq INTEGER PRIMARY KEY AUTOINCREMENT,
                     tenant TEXT NOT NULL,
                     body TEXT NOT NULL
                 );",
            )
            .map_err(unavailable)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)), path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in one immediate (write-locking) transaction on a blocking thread. The transaction
    /// commits when `work` returns `Ok`, and rolls back otherwise; a commit is on disk (synced) when
    /// this returns.
    pub async fn transaction<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(true, work).await
    }

    /// Like [`EmbeddedStore::transaction`], but the commit is not synced on its own: it is atomic and
    /// survives a crash of the process, and reaches the disk with the next synced commit (WAL with
    /// `synchronous = NORMAL`). Only for writes whose loss on a power failure leaves a state the
    /// domain already accounts for (a use's completion: without it the use reads `PENDING`).
    pub async fn transaction_unsynced<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(false, work).await
    }

    async fn run<T, E>(
        &self,
        synced: bool,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        let task = tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !synced {
                connection.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
            }
            let outcome = (|| {
                let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
                let value = work(&tx)?;
                tx.commit().map_err(unavailable)?;
                Ok(value)
            })();
            if !synced {
                connection.pragma_update(None, "synchronous", "FULL").map_err(unavailable)?;
            }
            outcome
        });
        task.await.map_err(|e| E::from(unavailable(e)))?
    }
}

/// Reads one item's body.
pub(super) fn read_body(tx: &Transaction<'_>, pk: &str, sk: &str) -> Result<Option<String>, StoreError> {
    tx.query_row("SELECT body FROM items WHERE pk = ?1 AND sk = ?2", params![pk, sk], |row| row.get(0))
        .optional()
        .map_err(unavailable)
}

/// Inserts or replaces one item.
pub(super) fn write_body(tx: &Transaction<'_>, pk: &str, sk: &str, version: u64, body: &str) -> Result<(), StoreError> {
    let version = i64::try_from(version).map_err(unavailable)?;
    tx.execute(
        "INSERT INTO items (pk, sk, version, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, body = excluded.body",
        params![pk, sk, version, body],
    )
    .map_err(unavailable)?;
    Ok(())
}
