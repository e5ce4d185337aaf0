//! The embedded store: one SQLite file under the data directory.
//!
//! It mirrors the DynamoDB single-table layout (`pk`, `sk`, a `version`, the item body as JSON) and
//! gives the same guarantees: every write is atomic, conditional writes check what they rely on inside
//! the write itself.
//!
//! One process at a time owns a data directory: opening the store takes an exclusive lock on its
//! `cofre.lock` (`flock`, released however the process ends), shared by every store the process
//! opens there, so a second `cofre-local serve` or `seed` on the same directory is refused before it
//! touches anything. Only reading the events ([`EmbeddedStore::open_read_only`]) goes without it.
//! The directory is private to its owner (0700), its files readable by their owner only (0600): so
//! created, and put right, with a warning, when found looser.
//!
//! How it is used concurrently (WAL mode):
//!
//! - **Reads** run on a pool of read-only connections, each in its own read transaction (one
//!   consistent snapshot), on the calling thread: a WAL reader never waits for the writer, and a
//!   point read from the page cache costs less than handing it to another thread.
//! - **Writes** are jobs for one writer thread, which owns the only write connection. It takes every
//!   job waiting, runs each in its own `SAVEPOINT` inside one `BEGIN IMMEDIATE` transaction (a job that
//!   fails rolls back to its savepoint, undoing only its own changes), commits once, and only then
//!   answers every job of the batch. So concurrent writes share one commit and one `fsync`, while each
//!   stays atomic and sees every write before it (the jobs run one after another on one connection).
//!   A job is answered `Ok` only once the batch's commit is on disk (`synchronous = FULL`); if the
//!   commit fails, every job of the batch fails and nothing of it is written.
//! - **Checkpoints** (copying the log back into the database file) run on a thread of their own, so
//!   that batches do not wait for them. The exception: past a thousand frames, the writer finishes one
//!   itself between two batches (at most every 200 ms, a few milliseconds), so that the log starts again
//!   from its beginning even under writes that never pause. Otherwise it grows without bound, and each
//!   commit's sync also writes the file's metadata.
//!
//! Each job's savepoint keeps a copy of every existing page the job changes, so that the job alone
//! can be undone. The writer keeps those copies in memory (`temp_store = MEMORY`, set once the schema
//! is in place). By default SQLite moves them to a temporary file once a job's copies pass 64 KiB
//! (about 16 pages), and the batch's later jobs then write there too: under load, a file created and
//! deleted in many batches and half the writer's `pwrite`s (docs/local-throughput.md). The copies are
//! dropped when the job ends, and every job writes a few rows. (The setting also keeps the writer's
//! sorts and temporary tables in memory; its jobs make none of any size.)
//!
//! Items live in a rowid table with a unique `(pk, sk)` index: bodies of a kilobyte or two fit in
//! their table page, and the index holds only the keys. (Stores created as a `WITHOUT ROWID` table,
//! which keeps whole rows in index pages and spills such bodies to overflow pages, are converted
//! once, in one transaction, when opened.)

use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

mod card_hashes;
mod credentials;
mod ledger;
mod merchants;
mod webhook_cursors;

use cofre_domain::store::{ScanCursor, StoreError};
pub use webhook_cursors::OutboxEvent;

/// How long a connection waits for a lock another process holds (the admin CLI seeding).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle read connections kept open; more are opened while more threads read at once.
const IDLE_READERS: usize = 16;
/// The most write jobs committed together.
const MAX_BATCH: usize = 1024;
/// How often the checkpointer copies the log back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// The log's length, in frames (pages), past which the writer finishes a checkpoint itself so that the
/// log starts again from its beginning: SQLite's own automatic checkpoint threshold.
const RESTART_LOG_AFTER: i64 = 1000;
/// How long the writer's checkpoint waits for readers of an older snapshot: reads are short, and the
/// writes queued behind it wait as long. If they outlast it, the checkpointer asks again.
const RESTART_WAIT: Duration = Duration::from_millis(10);
/// At most this many extra checkpoints before the writer is asked to restart the log, each copying
/// what was committed while the one before ran.
const CATCH_UP_PASSES: usize = 4;
/// So few frames landed during a catch-up pass that the writer can restart the log: a batch or two.
const CAUGHT_UP_FRAMES: i64 = 64;
/// The writer's page cache, in KiB: its pages stay valid (nobody else writes), so it keeps the
/// index pages it keeps coming back to. (A much larger cache costs more at every commit than it saves.)
const WRITER_CACHE_KIB: i64 = 8 * 1024;

const ITEMS: &str = "CREATE TABLE items (
                         pk TEXT NOT NULL,
                         sk TEXT NOT NULL,
                         version INTEGER NOT NULL,
                         body TEXT NOT NULL,
                         UNIQUE (pk, sk)
                     )";
const EVENTS: &str = "CREATE TABLE IF NOT EXISTS events (
                          seq INTEGER PRIMARY KEY AUTOINCREMENT,
                          tenant TEXT NOT NULL,
                          body TEXT NOT NULL
                      )";
/// The due index of holds (`docs/hold-expiry.md`): one row per authorization holding something that
/// expires, written in the same write as the authorization, and read by due instant.
const DUE_HOLDS: &str = "CREATE TABLE IF NOT EXISTS due_holds (
                             tenant TEXT NOT NULL,
                             authorization_id INTEGER NOT NULL,
                             due_ms INTEGER NOT NULL,
                             PRIMARY KEY (tenant, authorization_id)
                         );
                         CREATE INDEX IF NOT EXISTS due_holds_by_due ON due_holds (due_ms, authorization_id, tenant)";
/// How far each webhook has been delivered: the `seq` of the last event its receiver accepted
/// (`infra/local/src/webhooks.rs`). Keyed by tenant and URL, so a webhook keeps its place across
/// restarts and a changed secret; a new URL starts from the tenant's first event.
const WEBHOOK_CURSORS: &str = "CREATE TABLE IF NOT EXISTS webhook_cursors (
                                   tenant TEXT NOT NULL,
                                   url TEXT NOT NULL,
                                   delivered INTEGER NOT NULL,
                                   PRIMARY KEY (tenant, url)
                               )";

/// A file-backed store; cheap to clone (clones share the connections and the writer).
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// `None` for a read-only store, and while dropping.
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    /// Dropped to stop the checkpointer.
    checkpoints: Option<mpsc::Sender<()>>,
    checkpointer: Option<JoinHandle<()>>,
    /// Batches the writer has committed (for tests and measurements).
    commits: Arc<AtomicU64>,
    /// Writes queued without a waiting caller whose batch has not ended yet
    /// ([`EmbeddedStore::queue_unsynced`]).
    queued_unanswered: Arc<AtomicU64>,
    /// The data directory's lock (`None` for a read-only store); dropped last, once every connection
    /// is closed.
    _lock: Option<Arc<DataDirLock>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue stops the writer once it has answered what it holds; wait for it, so the
        // file is closed when the last handle is gone.
        self.jobs.take();
        self.checkpoints.take();
        for thread in [self.writer.take(), self.checkpointer.take()].into_iter().flatten() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("path", &self.shared.path).finish()
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The lock file's name inside the data directory.
const LOCK_FILE: &str = "cofre.lock";

/// Why a data directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds the directory's lock.
    #[error(
        "data directory {} is in use by another process{}: stop it first, or use another --data-dir",
        .dir.display(),
        .pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse {
        /// The directory, as given.
        dir: PathBuf,
        /// The holder's process id, if it wrote one.
        pid: Option<u32>,
    },
    /// The directory or its lock file could not be created, opened or made private.
    #[error("data directory {}: {source}", .dir.display())]
    Io {
        /// The directory, as given.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// This process's hold on a data directory: an exclusive `flock` on its [`LOCK_FILE`], shared by
/// every store the process opens there, released when the last of them is dropped (or when the
/// process ends, however it ends: the kernel releases it).
#[derive(Debug)]
pub struct DataDirLock {
    /// The canonical directory (the key in [`HELD`]).
    key: PathBuf,
    file: Option<std::fs::File>,
}

/// The data directories this process holds.
static HELD: Mutex<BTreeMap<PathBuf, Weak<DataDirLock>>> = Mutex::new(BTreeMap::new());

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Forgotten and unlocked under the registry's lock, so an open racing with this drop waits for
        // the unlock instead of finding its own process in the way.
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        if held.get(&self.key).is_some_and(|entry| entry.strong_count() == 0) {
            held.remove(&self.key);
        }
        self.file.take();
    }
}

/// Creates `dir` (and any missing parent) readable by its owner only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Takes `path` (if it exists) back to `mode` when others may read or write it, with a warning.
pub(crate) fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode() & 0o777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if current & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            tracing::warn!("{} was open to other users (mode {current:o}): set it to {mode:o}", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates `dir` private, or makes an existing one private (0700), with a warning if it was not.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    create_private_dir(dir)?;
    make_private(dir, 0o700)
}

/// Opens (creating, 0600) a file of the data directory for reading and writing.
fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Takes `dir` for this process (or joins this process's hold on it): creates it if needed, locks
/// it exclusively, then makes it and its files private. Another process holding it is an
/// [`DataDirError::InUse`], found before anything in the directory is changed.
pub(crate) fn lock_data_dir(dir: &Path) -> Result<Arc<DataDirLock>, DataDirError> {
    let io = |source| DataDirError::Io { dir: dir.to_owned(), source };
    create_private_dir(dir).map_err(io)?;
    let key = dir.canonicalize().map_err(io)?;
    let mut held = loop {
        let held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        match held.get(&key).map(Weak::upgrade) {
            Some(Some(lock)) => return Ok(lock),
            // Its last store is being dropped: wait for the unlock.
            Some(None) => {
                drop(held);
                std::thread::sleep(Duration::from_millis(1));
            }
            None => break held,
        }
    };
    let path = key.join(LOCK_FILE);
    let mut file = open_private_file(&path).map_err(io)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let pid = std::fs::read_to_string(&path).ok().and_then(|text| text.trim().parse().ok());
            return Err(DataDirError::InUse { dir: dir.to_owned(), pid });
        }
        Err(e) => return Err(io(e.into())),
    }
    // Ours: say who holds it (for the message another process prints), then put the modes right.
    file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id())).map_err(io)?;
    make_private(dir, 0o700).map_err(io)?;
    for name in [LOCK_FILE, EmbeddedStore::FILE_NAME, "cofre.db-wal", "cofre.db-shm"] {
        make_private(&dir.join(name), 0o600).map_err(io)?;
    }
    let lock = Arc::new(DataDirLock { key: key.clone(), file: Some(file) });
    held.insert(key, Arc::downgrade(&lock));
    Ok(lock)
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(unavailable)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    Ok(connection)
}

/// Creates the tables, or converts a `WITHOUT ROWID` items table of an older store, in one
/// transaction (another process opening the store at the same time waits for it).
fn prepare_schema(connection: &mut Connection) -> Result<(), StoreError> {
    let items_sql = |c: &Connection| -> Result<Option<String>, StoreError> {
        c.query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'", [], |row| row.get(0))
            .optional()
            .map_err(unavailable)
    };
    let current = |sql: &Option<String>| sql.as_deref().is_some_and(|sql| !sql.contains("WITHOUT ROWID"));
    let events = |c: &Connection| -> Result<bool, StoreError> {
        c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'due_holds', 'webhook_cursors')",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n == 3)
        .map_err(unavailable)
    };
    if current(&items_sql(connection)?) && events(connection)? {
        return Ok(());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
    match items_sql(&tx)? {
        None => tx.execute_batch(ITEMS).map_err(unavailable)?,
        Some(sql) if sql.contains("WITHOUT ROWID") => {
            let copy = format!(
                "{};
                 INSERT INTO items_rowid (pk, sk, version, body) SELECT pk, sk, version, body FROM items ORDER BY pk, sk;
                 DROP TABLE items;
                 ALTER TABLE items_rowid RENAME TO items;",
                ITEMS.replacen("CREATE TABLE items", "CREATE TABLE items_rowid", 1)
            );
            tx.execute_batch(&copy).map_err(unavailable)?;
        }
        Some(_) => {}
    }
    tx.execute_batch(EVENTS).map_err(unavailable)?;
    tx.execute_batch(DUE_HOLDS).map_err(unavailable)?;
    tx.execute_batch(WEBHOOK_CURSORS).map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

fn connect_reader(path: &Path) -> Result<Connection, StoreError> {
    let connection = connect(path)?;
    connection.pragma_update(None, "query_only", true).map_err(unavailable)?;
    Ok(connection)
}

impl EmbeddedStore {
    /// The database file's name inside the data directory.
    pub const FILE_NAME: &'static str = "cofre.db";

    /// Opens (creating if needed) the store in `data_dir`, and starts its writer thread (which stops
    /// when the last clone is dropped).
    ///
    /// The first store a process opens on `data_dir` takes the directory's lock (see the module's
    /// documentation); another process holding it is an error naming the directory.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let lock = lock_data_dir(data_dir).map_err(unavailable)?;
        Self::open_with(data_dir, Some(lock))
    }

    /// Opens the store without the directory's lock, to write beside a server that holds it
    /// (`cofre-local seed`): SQLite's own locking keeps writes from two processes safe; the
    /// directory's lock is there to keep a second *server* out (two would each cache partner
    /// tokens and checkpoint on their own), not a command that writes a few rows and exits.
    pub fn open_beside_server(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir).map_err(unavailable)?;
        Self::open_with(data_dir, None)
    }

    fn open_with(data_dir: &Path, lock: Option<Arc<DataDirLock>>) -> Result<Self, StoreError> {
        let path = data_dir.join(Self::FILE_NAME);
        // Created private: SQLite gives its log and shared-memory files the database file's mode.
        open_private_file(&path).map_err(unavailable)?;
        let mut writer = connect(&path)?;
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA cache_size = -{WRITER_CACHE_KIB};
                 PRAGMA wal_autocheckpoint = 0;"
            ))
            .map_err(unavailable)?;
        prepare_schema(&mut writer)?;
        writer.execute_batch("PRAGMA temp_store = MEMORY;").map_err(unavailable)?;
        let reader = connect_reader(&path)?;
        let checkpointing = connect(&path)?;
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        let log_too_long = Arc::new(AtomicBool::new(false));
        let log_found_too_long = Arc::clone(&log_too_long);
        let writer = std::thread::Builder::new()
            .name("cofre-store-writer".into())
            .spawn(move || write_loop(writer, &queue, &counter, &log_too_long))
            .map_err(unavailable)?;
        let (checkpoints, stop) = mpsc::channel();
        let checkpointer = std::thread::Builder::new()
            .name("cofre-store-checkpointer".into())
            .spawn(move || checkpoint_loop(&checkpointing, &stop, &log_found_too_long))
            .map_err(unavailable);
        // Dropping what exists so far stops the writer if the checkpointer cannot start.
        let mut shared = Shared {
            path,
            readers: Mutex::new(vec![reader]),
            jobs: Some(jobs),
            writer: Some(writer),
            checkpoints: Some(checkpoints),
            checkpointer: None,
            commits,
            queued_unanswered: Arc::default(),
            _lock: lock,
        };
        shared.checkpointer = Some(checkpointer?);
        Ok(Self { shared: Arc::new(shared) })
    }

    /// Takes `data_dir` for this process before anything else is opened there (the server and the
    /// seeders do, so a second process stops before touching even the keyring). The stores this
    /// process then opens there share the hold; it ends when the last of them and this are dropped.
    pub fn lock_data_dir(data_dir: &Path) -> Result<Arc<DataDirLock>, DataDirError> {
        lock_data_dir(data_dir)
    }

    /// Opens an existing store for reading only, without the directory's lock and without a writer,
    /// so it can be read while another process serves it (`cofre-local events`). Its writes fail.
    pub fn open_read_only(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(Self::FILE_NAME);
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(&path, flags).map_err(unavailable)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        reader.pragma_update(None, "query_only", true).map_err(unavailable)?;
        let shared = Shared {
            path,
            readers: Mutex::new(vec![reader]),
            jobs: None,
            writer: None,
            checkpoints: None,
            checkpointer: None,
            commits: Arc::new(AtomicU64::new(0)),
            queued_unanswered: Arc::default(),
            _lock: None,
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How many write transactions (batches) this store has committed since it was opened.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Runs `work` in one read transaction (one snapshot) on a read-only connection, on this thread.
    /// Only for short reads: it blocks the caller for as long as `work` takes.
    pub(super) fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.shared.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => connect_reader(&self.shared.path)?,
        };
        let run = |sql: &str| connection.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(unavailable);
        let outcome = run("BEGIN").and_then(|_| {
            let value = work(&connection);
            // A read transaction has nothing to keep: ending it either way releases the snapshot.
            let end = run(if value.is_ok() { "COMMIT" } else { "ROLLBACK" });
            let value = value?;
            end.map(|_| value)
        });
        if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        let mut idle = self.shared.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
        outcome
    }

    /// Runs `work` as one atomic write: in its own savepoint of the writer's next batch transaction,
    /// after every write queued before it. Its changes are kept when `work` returns `Ok` and undone
    /// otherwise; it is answered once the batch is committed, and an `Ok` is on disk (synced) when
    /// this returns.
    pub async fn transaction<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.submit(true, work).await
    }

    /// Like [`EmbeddedStore::transaction`], but the commit need not be synced on its own: it is atomic
    /// and survives a crash of the process, and reaches the disk with the next synced commit (WAL with
    /// `synchronous = NORMAL`; a batch is synced if any of its writes asks for it). Only for writes
    /// whose loss on a power failure leaves a state the domain already accounts for (a use's
    /// completion: without it the use reads `PENDING`).
    pub async fn transaction_unsynced<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.submit(false, work).await
    }

    /// Queues `work` as an unsynced write ([`EmbeddedStore::transaction_unsynced`]) and returns without
    /// waiting for it. The writer runs it after every write queued before it and before any queued
    /// after; a failure, of `work` or of its batch, is logged inside `span`, since no caller waits.
    /// Unlike an unsynced commit, it is lost if the process dies before the writer gets to it; a
    /// graceful stop drains the queue. [`EmbeddedStore::read_after_queued_writes`] sees it.
    pub(super) fn queue_unsynced(
        &self,
        span: tracing::Span,
        work: impl FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let jobs = self.shared.jobs.as_ref().ok_or_else(|| StoreError::Unavailable(STOPPED.into()))?;
        let queued = Arc::clone(&self.shared.queued_unanswered);
        // Counted before it is sent, so that a read the caller makes afterwards sees the count.
        queued.fetch_add(1, Ordering::AcqRel);
        let job = Box::new(Unanswered { span, work: Some(work), failed: None, queued: Arc::clone(&queued) });
        jobs.send(job).map_err(|_| {
            queued.fetch_sub(1, Ordering::AcqRel);
            StoreError::Unavailable(STOPPED.into())
        })
    }

    /// [`EmbeddedStore::read`], after every write [`EmbeddedStore::queue_unsynced`] took before this
    /// call is committed: while any is waiting, an empty write is queued behind them and awaited.
    pub(super) async fn read_after_queued_writes<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.shared.queued_unanswered.load(Ordering::Acquire) > 0 {
            self.transaction_unsynced(|_| Ok::<_, StoreError>(())).await?;
        }
        self.read(work)
    }

    async fn submit<T, E>(
        &self,
        synced: bool,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending { synced, work: Some(work), outcome: None, reply });
        let jobs = self.shared.jobs.as_ref().ok_or_else(|| E::from(StoreError::Unavailable(STOPPED.into())))?;
        jobs.send(job).map_err(|_| E::from(StoreError::Unavailable(STOPPED.into())))?;
        answer.await.map_err(|_| E::from(StoreError::Unavailable(STOPPED.into())))?
    }
}

const STOPPED: &str = "the store's writer stopped";

/// One write waiting for the writer, type-erased.
trait Job: Send {
    /// Whether its commit must be synced.
    fn synced(&self) -> bool;
    /// Runs the work inside the batch; `true` if it succeeded (its changes are to be kept).
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers the caller: the work's outcome once the batch committed (`failure` is `None`), the
    /// batch's failure otherwise.
    fn answer(self: Box<Self>, failure: Option<&str>);
}

struct Pending<F, T, E> {
    synced: bool,
    work: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Pending<F, T, E>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn synced(&self) -> bool {
        self.synced
    }

    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else { return false };
        let outcome = work(tx);
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn answer(self: Box<Self>, failure: Option<&str>) {
        let result = match (failure, self.outcome) {
            (None, Some(outcome)) => outcome,
            (Some(failure), _) => Err(E::from(StoreError::Unavailable(failure.to_owned()))),
            (None, None) => Err(E::from(StoreError::Unavailable("the write did not run".into()))),
        };
        // The caller may have gone (its request was cancelled); the write stands either way.
        let _ = self.reply.send(result);
    }
}

/// A write nobody waits for ([`EmbeddedStore::queue_unsynced`]): its failure is logged, not answered.
struct Unanswered<F> {
    /// The caller's context (its request's span is the parent), for the failure's log line.
    span: tracing::Span,
    work: Option<F>,
    failed: Option<String>,
    /// [`Shared::queued_unanswered`], counted down once the write's batch has ended.
    queued: Arc<AtomicU64>,
}

impl<F> Job for Unanswered<F>
where
    F: FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send,
{
    fn synced(&self) -> bool {
        false
    }

    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else { return false };
        // Stays if `work` panics (the writer catches it).
        self.failed = Some("the write panicked".into());
        let outcome = work(tx);
        self.failed = outcome.as_ref().err().map(ToString::to_string);
        outcome.is_ok()
    }

    fn answer(self: Box<Self>, failure: Option<&str>) {
        if let Some(error) = failure.map(str::to_owned).or(self.failed) {
            self.span.in_scope(|| tracing::error!(%error, "queued write failed; nothing of it was kept"));
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The checkpointer thread: a passive checkpoint (it never blocks the writer or a reader) every
/// [`CHECKPOINT_EVERY`], until the store is dropped.
///
/// SQLite starts the log again from its beginning only when a write begins with the whole log copied
/// and no reader holding a snapshot that needs it. Under writes that never pause, these checkpoints
/// never get there: commits land while they copy. The log would grow without bound, every commit
/// appending to blocks the file system must allocate, which makes each commit's sync write the file's
/// metadata too (about twice the sync, measured in `docs/gateway-overhead.md`). So past
/// [`RESTART_LOG_AFTER`] frames it asks the writer for a checkpoint that restarts the log (see
/// `write_loop`).
fn checkpoint_loop(connection: &Connection, stop: &mpsc::Receiver<()>, log_too_long: &AtomicBool) {
    // The log's length in frames, or `None` (logged) if the checkpoint failed.
    let passive = || match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(1)) {
        Ok(log) => Some(log),
        Err(e) => {
            tracing::warn!(error = %e, "embedded store checkpoint failed; the next one retries");
            None
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let Some(mut log) = passive().filter(|&log| log >= RESTART_LOG_AFTER) else { continue };
        // The writer's restart must copy, and sync into the database file, every frame committed
        // since this pass began, with the writes queued behind it waiting. Catch up first: each
        // pass copies what landed during the one before, until few did.
        for _ in 0..CATCH_UP_PASSES {
            let Some(now) = passive() else { break };
            let landed = now - log;
            log = now;
            if landed < CAUGHT_UP_FRAMES {
                break;
            }
        }
        if log >= RESTART_LOG_AFTER {
            log_too_long.store(true, Ordering::Relaxed);
        }
    }
}

/// A checkpoint on the writer's connection, between two batches, that leaves the log to be started
/// again by the next write: `RESTART` copies what is left (little: the checkpointer copied the rest)
/// and waits, up to [`RESTART_WAIT`], for readers of older snapshots to finish. No commit of this
/// process can land meanwhile (a `cofre-local seed` writing beside the server can, and the next
/// attempt covers it). `true` if it got there.
fn restart_log(connection: &Connection) -> rusqlite::Result<bool> {
    connection.busy_timeout(RESTART_WAIT)?;
    let done = connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get::<_, i64>(0));
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(done? == 0)
}

/// The writer thread: batches until the queue closes.
fn write_loop(
    mut connection: Connection,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    commits: &AtomicU64,
    log_too_long: &AtomicBool,
) {
    let mut synced = true;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let wanted = batch.iter().any(|job| job.synced());
        if wanted != synced {
            let level = if wanted { "FULL" } else { "NORMAL" };
            if let Err(e) = connection.pragma_update(None, "synchronous", level) {
                let failure = e.to_string();
                batch.into_iter().for_each(|job| job.answer(Some(&failure)));
                continue;
            }
            synced = wanted;
        }
        let failure = commit_batch(&mut connection, &mut batch).err();
        if failure.is_none() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for job in batch {
            job.answer(failure.as_deref());
        }
        // After answering: the batch's callers do not wait for it. One attempt each time the
        // checkpointer asks; readers that outlast it leave the log as it is until it asks again.
        if log_too_long.swap(false, Ordering::Relaxed) {
            match restart_log(&connection) {
                Ok(true) => {}
                Ok(false) => tracing::debug!("embedded store log not restarted: readers still on it"),
                Err(e) => tracing::warn!(error = %e, "embedded store checkpoint failed; the next one retries"),
            }
        }
    }
}

/// Runs every job of `batch` in its own savepoint of one transaction, then commits it.
fn commit_batch(connection: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        tx.execute_batch("SAVEPOINT job").map_err(|e| e.to_string())?;
        // A panicking job fails alone, as a job returning an error does.
        let kept = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&tx))).unwrap_or(false);
        if tx.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, full disk): nothing of it stands.
            return Err("the batch's transaction was rolled back".into());
        }
        let end = if kept { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        tx.execute_batch(end).map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())
}

/// Reads one item's body.
pub(super) fn read_body(tx: &Connection, pk: &str, sk: &str) -> Result<Option<String>, StoreError> {
    let mut statement = tx.prepare_cached("SELECT body FROM items WHERE pk = ?1 AND sk = ?2").map_err(unavailable)?;
    statement.query_row(params![pk, sk], |row| row.get(0)).optional().map_err(unavailable)
}

/// Deletes one item, if there.
pub(super) fn delete_item(tx: &Connection, pk: &str, sk: &str) -> Result<(), StoreError> {
    let mut statement = tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2").map_err(unavailable)?;
    statement.execute(params![pk, sk]).map_err(unavailable)?;
    Ok(())
}

/// Items scanned per page, for maintenance (re-keying hashes).
const SCAN_PAGE: usize = 100;

/// One page of the items whose sort key begins with `prefix`, in key order, after `after`: their
/// bodies, and where the next page starts (`None`: none is left).
pub(super) fn scan_page(
    tx: &Connection,
    prefix: &str,
    after: Option<&ScanCursor>,
) -> Result<(Vec<String>, Option<ScanCursor>), StoreError> {
    let (pk, sk) = after.map(|c| (c.pk.as_str(), c.sk.as_str())).unwrap_or(("", ""));
    let mut statement = tx
        .prepare_cached(
            "SELECT pk, sk, body FROM items
             WHERE (pk, sk) > (?1, ?2) AND substr(sk, 1, length(?3)) = ?3
             ORDER BY pk, sk LIMIT ?4",
        )
        .map_err(unavailable)?;
    let limit = i64::try_from(SCAN_PAGE).map_err(unavailable)?;
    let rows = statement
        .query_map(params![pk, sk, prefix, limit], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let next = (rows.len() == SCAN_PAGE)
        .then(|| rows.last().map(|(pk, sk, _)| ScanCursor { pk: pk.clone(), sk: sk.clone() }))
        .flatten();
    Ok((rows.into_iter().map(|(_, _, body)| body).collect(), next))
}

/// Inserts or replaces one item.
pub(super) fn write_body(tx: &Connection, pk: &str, sk: &str, version: u64, body: &str) -> Result<(), StoreError> {
    let version = i64::try_from(version).map_err(unavailable)?;
    let mut statement = tx
        .prepare_cached(
            "INSERT INTO items (pk, sk, version, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, body = excluded.body",
        )
        .map_err(unavailable)?;
    statement.execute(params![pk, sk, version, body]).map_err(unavailable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn item(tx: &Connection, sk: &str) -> Option<String> {
        read_body(tx, "P", sk).unwrap()
    }

    /// Holds the writer inside a batch until `release` is sent, having written `HELD`.
    fn hold_writer(
        store: &EmbeddedStore,
    ) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), StoreError>>) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (entered, inside) = std::sync::mpsc::channel::<()>();
        let holder = store.clone();
        let held = tokio::spawn(async move {
            holder
                .transaction(move |tx| {
                    write_body(tx, "P", "HELD", 0, "held")?;
                    entered.send(()).unwrap();
                    wait.recv().unwrap();
                    Ok::<_, StoreError>(())
                })
                .await
        });
        inside.recv().unwrap();
        (release, held)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_a_commit_and_a_failed_one_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (release, held) = hold_writer(&store);
        // While the writer is busy, 40 writes queue: every third writes, then fails its condition.
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..40 {
            let store = store.clone();
            writes.spawn(async move {
                let outcome = store
                    .transaction(move |tx| {
                        write_body(tx, "P", &format!("W{i:02}"), 0, "written")?;
                        if i % 3 == 0 {
                            return Err(StoreError::Unavailable("condition failed".into()));
                        }
                        write_body(tx, "P", &format!("X{i:02}"), 0, "second")
                    })
                    .await;
                (i, outcome.is_ok())
            });
        }
        // Nothing of the batch in progress is visible to a reader.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.read(|tx| Ok(item(tx, "HELD"))).unwrap(), None, "uncommitted writes are not read");
        let before = store.commits();
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        let outcomes = writes.join_all().await;
        assert!(outcomes.iter().all(|(i, ok)| *ok == (i % 3 != 0)), "{outcomes:?}");
        assert!(store.commits() - before <= 2, "the 40 queued writes committed together: {}", store.commits() - before);
        store
            .read(|tx| {
                assert_eq!(item(tx, "HELD").as_deref(), Some("held"));
                for i in 0..40 {
                    let kept = i % 3 != 0;
                    assert_eq!(item(tx, &format!("W{i:02}")).is_some(), kept, "W{i:02}");
                    assert_eq!(item(tx, &format!("X{i:02}")).is_some(), kept, "X{i:02}");
                }
                Ok(())
            })
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_that_changed_hundreds_of_pages_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let original = "o".repeat(2000);
        let body = original.clone();
        store
            .transaction(move |tx| (0..300).try_for_each(|i| write_body(tx, "P", &format!("R{i:03}"), 0, &body)))
            .await
            .unwrap();
        let (release, held) = hold_writer(&store);
        // In one batch: a write before, one that rewrites every row (copies of ~150 pages kept for
        // its savepoint, far past what SQLite keeps in memory by default) and then fails, one after.
        let write = |sk: &'static str| {
            let store = store.clone();
            tokio::spawn(async move { store.transaction(move |tx| write_body(tx, "P", sk, 0, "kept")).await })
        };
        let before = write("BEFORE");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rewriter = store.clone();
        let failed = tokio::spawn(async move {
            rewriter
                .transaction(|tx| {
                    (0..300).try_for_each(|i| write_body(tx, "P", &format!("R{i:03}"), 1, &"n".repeat(2000)))?;
                    Err::<(), _>(StoreError::Unavailable("condition failed".into()))
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = write("AFTER");
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(failed.await.unwrap().is_err());
        before.await.unwrap().unwrap();
        after.await.unwrap().unwrap();
        let temp_store = store
            .transaction(|tx| tx.query_row("PRAGMA temp_store", [], |row| row.get::<_, i64>(0)).map_err(unavailable));
        assert_eq!(temp_store.await.unwrap(), 2, "the writer keeps the savepoints' copies in memory");
        store
            .read(|tx| {
                assert_eq!(item(tx, "BEFORE").as_deref(), Some("kept"));
                assert_eq!(item(tx, "AFTER").as_deref(), Some("kept"));
                for i in 0..300 {
                    assert_eq!(item(tx, &format!("R{i:03}")).as_deref(), Some(original.as_str()), "R{i:03}");
                }
                Ok(())
            })
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_sees_the_writes_before_it_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.transaction(|tx| write_body(tx, "P", "COUNTER", 0, "0")).await.unwrap();
        let (release, held) = hold_writer(&store);
        let mut increments = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let store = store.clone();
            increments.spawn(async move {
                store
                    .transaction(|tx| {
                        let n: u64 = item(tx, "COUNTER").unwrap().parse().unwrap();
                        write_body(tx, "P", "COUNTER", 0, &(n + 1).to_string())
                    })
                    .await
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(increments.join_all().await.iter().all(Result::is_ok));
        assert_eq!(store.read(|tx| Ok(item(tx, "COUNTER"))).unwrap().as_deref(), Some("50"), "no lost update");
    }

    #[tokio::test]
    async fn a_store_made_with_a_without_rowid_table_is_converted_with_everything_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join(EmbeddedStore::FILE_NAME)).unwrap();
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
                                 PRIMARY KEY (pk, sk)) WITHOUT ROWID;
             CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, body TEXT NOT NULL);
             INSERT INTO items VALUES ('P', 'A', 3, 'kept'), ('P', 'B', 1, 'also kept');
             INSERT INTO events (tenant, body) VALUES ('t', '{}');",
        )
        .unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let sql: String =
            old.query_row("SELECT sql FROM sqlite_master WHERE name = 'items'", [], |r| r.get(0)).unwrap();
        assert!(!sql.contains("WITHOUT ROWID") && sql.contains("UNIQUE (pk, sk)"), "{sql}");
        store.transaction(|tx| write_body(tx, "P", "A", 4, "replaced")).await.unwrap();
        store
            .read(|tx| {
                assert_eq!((item(tx, "A").as_deref(), item(tx, "B").as_deref()), (Some("replaced"), Some("also kept")));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.events().await.unwrap(), ["{}"]);
        drop(store);
        // Opening again changes nothing.
        let again = EmbeddedStore::open(dir.path()).unwrap();
        let count: i64 = old.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
        assert_eq!((count, again.read(|tx| Ok(item(tx, "A"))).unwrap().as_deref()), (2, Some("replaced")));
    }

    /// Holds `dir`'s lock as another process would: through an open file of its own.
    fn foreign_lock(dir: &Path) -> Result<std::fs::File, rustix::io::Errno> {
        let file = open_private_file(&dir.join(LOCK_FILE)).unwrap();
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map(|()| file)
    }

    #[tokio::test]
    async fn one_process_holds_a_data_directory_and_its_stores_share_the_hold() {
        let dir = tempfile::tempdir().unwrap();
        let first = EmbeddedStore::open(dir.path()).unwrap();
        let second = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(foreign_lock(dir.path()).unwrap_err(), rustix::io::Errno::WOULDBLOCK, "held while open");
        drop(first);
        assert!(foreign_lock(dir.path()).is_err(), "held while any store is open");
        second.transaction(|tx| write_body(tx, "P", "KEPT", 0, "kept")).await.unwrap();
        drop(second);

        let other = foreign_lock(dir.path()).expect("released with the last store");
        let refused = EmbeddedStore::open(dir.path()).unwrap_err().to_string();
        let named = dir.path().display().to_string();
        assert!(refused.contains(&named) && refused.contains("in use"), "{refused}");
        // Reading needs no lock.
        let reader = EmbeddedStore::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.read(|tx| Ok(item(tx, "KEPT"))).unwrap().as_deref(), Some("kept"));
        drop(other);
        assert!(EmbeddedStore::open(dir.path()).is_ok(), "free again");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_directory_and_its_files_are_private_and_loose_modes_are_put_right() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a").join("data");
        let store = EmbeddedStore::open(&dir).unwrap();
        store.transaction(|tx| write_body(tx, "P", "A", 0, "a")).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        for name in [EmbeddedStore::FILE_NAME, "cofre.db-wal", "cofre.db-shm", LOCK_FILE] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        drop(store);
        for (path, loose) in [(dir.clone(), 0o755), (dir.join(EmbeddedStore::FILE_NAME), 0o644)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
        }
        let _store = EmbeddedStore::open(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&dir.join(EmbeddedStore::FILE_NAME))), (0o700, 0o600));
    }

    /// The log's checkpoint sequence number (its header's bytes 12 to 16), which SQLite advances each
    /// time it starts the log again from its beginning.
    fn log_restarts(dir: &Path) -> u32 {
        let header = std::fs::read(dir.join("cofre.db-wal")).unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_that_never_pause_still_let_the_log_start_again() {
        const WRITERS: u32 = 8;
        const READERS: u32 = 2;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.transaction(|tx| write_body(tx, "P", "FIRST", 0, "first")).await.unwrap();
        let before = log_restarts(dir.path());
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(1));
        // Eight writers keep the writer busy, so a checkpoint on another connection never finds the
        // log still once it has copied it, and two readers keep taking snapshots. (Without the
        // writer's own checkpoint the log grew to ~39 MB here and never started again.)
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, stop, written) = (store.clone(), Arc::clone(&stop), Arc::clone(&written));
                tokio::spawn(async move {
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let body = "x".repeat(2048);
                        store.transaction(move |tx| write_body(tx, "P", &format!("{w}-{n:08}"), 0, &body)).await?;
                        written.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .collect();
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (store, stop) = (store.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        store.read(|tx| Ok(item(tx, "FIRST"))).unwrap();
                    }
                })
            })
            .collect();
        // A bound on the work, not on time: a fast disk writes many frames per checkpoint period.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while log_restarts(dir.path()) == before && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        readers.into_iter().for_each(|reader| reader.join().unwrap());
        assert_ne!(log_restarts(dir.path()), before, "the log never started again");
        let count = store
            .read(|tx| tx.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, u64>(0)).map_err(unavailable));
        assert_eq!(count.unwrap(), written.load(Ordering::Relaxed), "every write kept across the restarts");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queued_write_is_not_awaited_and_a_later_listing_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (release, held) = hold_writer(&store);
        // With nothing queued, a read does not wait for the writer, held as it is.
        let none_queued = store.read_after_queued_writes(|tx| Ok(item(tx, "QUEUED")));
        assert_eq!(tokio::time::timeout(Duration::from_secs(10), none_queued).await.unwrap().unwrap(), None);
        // Returns while the writer is held: nothing waits for the write.
        store.queue_unsynced(tracing::Span::none(), |tx| write_body(tx, "P", "QUEUED", 0, "queued")).unwrap();
        assert_eq!(store.read(|tx| Ok(item(tx, "QUEUED"))).unwrap(), None, "not yet written");
        let reader = store.clone();
        let read = tokio::spawn(async move { reader.read_after_queued_writes(|tx| Ok(item(tx, "QUEUED"))).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!read.is_finished(), "the read waits for the write queued before it");
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert_eq!(read.await.unwrap().unwrap().as_deref(), Some("queued"));

        // A queued write that fails leaves nothing, alone, and the writer goes on.
        store
            .queue_unsynced(tracing::Span::none(), |tx| {
                write_body(tx, "P", "REFUSED", 0, "never")?;
                Err(StoreError::Unavailable("condition failed".into()))
            })
            .unwrap();
        store.queue_unsynced(tracing::Span::none(), |tx| write_body(tx, "P", "AFTER", 0, "after")).unwrap();
        let (refused, after) =
            store.read_after_queued_writes(|tx| Ok((item(tx, "REFUSED"), item(tx, "AFTER")))).await.unwrap();
        assert_eq!((refused, after.as_deref()), (None, Some("after")));
        drop(store);
        let read_only = EmbeddedStore::open_read_only(dir.path()).unwrap();
        let listed = read_only.read_after_queued_writes(|tx| Ok(item(tx, "AFTER"))).await.unwrap();
        assert_eq!(listed.as_deref(), Some("after"), "a store without a writer reads at once");
    }

    #[derive(Clone, Default)]
    struct LogLines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for LogLines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_queued_write_that_fails_is_logged_in_its_callers_context() {
        let logs = LogLines::default();
        let sink = logs.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || sink.clone()).with_ansi(false).without_time().finish();
        let queued = Arc::new(AtomicU64::new(2));
        tracing::subscriber::with_default(subscriber, || {
            type Work = Box<dyn FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send>;
            let job = |work: Work| {
                let _request = tracing::info_span!("request", tracking_id = "trk-1").entered();
                let span = tracing::error_span!("use_completion", use_id = "use-1");
                Box::new(Unanswered { span, work: Some(work), failed: None, queued: Arc::clone(&queued) })
            };
            let mut connection = Connection::open_in_memory().unwrap();
            let tx = connection.transaction().unwrap();
            let mut refused = job(Box::new(|_| Err(StoreError::Unavailable("never begun".into()))));
            assert!(!refused.run(&tx));
            refused.answer(None);
            let mut rolled_back = job(Box::new(|_| Ok(())));
            assert!(rolled_back.run(&tx));
            rolled_back.answer(Some("the batch's transaction was rolled back"));
        });
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for (line, error) in lines.iter().zip(["never begun", "the batch's transaction was rolled back"]) {
            assert!(line.contains("ERROR") && line.contains("queued write failed"), "{line}");
            assert!(line.contains(r#"tracking_id="trk-1""#) && line.contains(r#"use_id="use-1""#), "{line}");
            assert!(line.contains(error), "{line}");
        }
        assert_eq!(queued.load(Ordering::Acquire), 0, "each counted down once its batch ended");
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let failed = store
            .transaction(|tx| -> Result<(), StoreError> {
                write_body(tx, "P", "PANIC", 0, "never")?;
                panic!("a bug in a write");
            })
            .await;
        assert!(failed.is_err());
        store.transaction(|tx| write_body(tx, "P", "AFTER", 0, "kept")).await.unwrap();
        store.transaction_unsynced(|tx| write_body(tx, "P", "UNSYNCED", 0, "kept")).await.unwrap();
        store
            .read(|tx| {
                assert_eq!((item(tx, "PANIC"), item(tx, "AFTER").as_deref()), (None, Some("kept")));
                assert_eq!(item(tx, "UNSYNCED").as_deref(), Some("kept"));
                Ok(())
            })
            .unwrap();
        // A second handle on the same file (the admin CLI) sees every acknowledged write.
        drop(store);
        let again = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(again.read(|tx| Ok(item(tx, "AFTER"))).unwrap().as_deref(), Some("kept"));
    }
}
