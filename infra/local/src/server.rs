//! Builds and runs the local server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::embedded::{DataDirError, DataDirLock};
use crate::{EmbeddedStore, LocalKeyring, LocalTokens};
use axum::Router;
use axum::body::Bytes;
use cofre_aws::{HttpPartnerClient, HttpProcessorClient};
use cofre_domain::authorizations::{AccountSeeder, Authorizer, HoldExpirer};
use cofre_domain::clock::SystemClock;
use cofre_domain::credentials::CredentialVault;
use cofre_domain::endpoints::EndpointSettings;
use cofre_domain::gateway::PartnerGateway;
use cofre_domain::hmac_rotation::HmacRotation;
use cofre_domain::ids::RandomIds;
use cofre_domain::merchants::{MerchantConnections, MerchantSeeder};
use cofre_http::{
    Authenticator, AuthorizationApi, CredentialApi, GatewayApi, MerchantApi, authorization_router, credential_router,
    gateway_router, merchant_router, with_json_fallbacks,
};
use http_body::{Frame, SizeHint};
use tower::ServiceExt as _;

/// The partner settings used when no `--partners` file is given: every partner on the sandbox.
pub const SANDBOX_PARTNERS: &str = include_str!("../partners.json");
/// The processor settings used when no `--processors` file is given: every processor on the sandbox.
pub const SANDBOX_PROCESSORS: &str = include_str!("../processors.json");

/// Which adapters the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Embedded store and local keyring under the data directory.
    Local,
    /// DynamoDB, KMS and Secrets Manager, configured as the Lambda functions are (environment).
    Aws,
}

/// Anything that stops the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The keyring could not be opened.
    #[error(transparent)]
    Keyring(#[from] crate::KeyringError),
    /// The data directory is another process's, or could not be created.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] cofre_domain::credentials::StoreError),
    /// The partner settings file could not be read or parsed.
    #[error("partner settings: {0}")]
    Partners(String),
    /// AWS wiring failed.
    #[error(transparent)]
    Wiring(#[from] cofre_aws::wiring::WiringError),
    /// A socket or file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Webhooks cannot be delivered as configured.
    #[error("webhooks: {0}")]
    Webhooks(String),
}

/// How to build the local application.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Where the store and keyring live.
    pub data_dir: PathBuf,
    /// The adapters.
    pub backend: Backend,
    /// A partner settings file (`{sandbox}` in a `base_url` stands for the sandbox's address);
    /// `None` for the built-in sandbox settings.
    pub partners_file: Option<PathBuf>,
    /// A processor settings file, likewise.
    pub processors_file: Option<PathBuf>,
    /// Where each tenant's events are POSTed (the fixtures' `webhooks`; local backend only).
    pub webhooks: Vec<crate::webhooks::Webhook>,
    /// How those deliveries are paced.
    pub delivery: crate::webhooks::DeliveryOptions,
}

/// The application and what the caller needs to talk to it.
#[derive(Debug)]
pub struct LocalApp {
    /// Every route, as the Lambda functions serve them.
    pub router: Router,
    /// Mints tokens the server accepts.
    pub tokens: Arc<LocalTokens>,
    /// The partner sandbox's base URL.
    pub sandbox_url: String,
    /// This process's hold on the data directory (the local backend), for as long as the app lives.
    pub data_dir_lock: Option<Arc<DataDirLock>>,
    /// The hold-expiry sweep over the embedded store, for the server to run on its own schedule
    /// ([`crate::hold_sweeper`]); `None` on the AWS backend, whose `expire-holds` function does it.
    pub hold_expirer: Option<Arc<HoldExpirer>>,
    /// The webhook deliveries, running until this is dropped.
    pub deliveries: crate::webhooks::Deliveries,
}

/// The token issuer of a data directory (creating its keyring on first use).
pub fn local_tokens(data_dir: &Path) -> Result<LocalTokens, StartError> {
    let keyring = LocalKeyring::open_or_create(data_dir)?;
    Ok(LocalTokens::new(keyring.token_signing_key().clone()))
}

/// Reads a settings file (or the built-in sandbox one), `{sandbox}` replaced by the sandbox's URL.
fn endpoint_settings(file: Option<&Path>, builtin: &str, sandbox_url: &str) -> Result<EndpointSettings, StartError> {
    let text = match file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| StartError::Partners(format!("{}: {e}", path.display())))?
        }
        None => builtin.to_owned(),
    };
    EndpointSettings::from_json(&text.replace("{sandbox}", sandbox_url))
        .map_err(|e| StartError::Partners(e.to_string()))
}

fn http_client_error(e: impl std::fmt::Display) -> StartError {
    StartError::Wiring(cofre_aws::wiring::WiringError::HttpClient(e.to_string()))
}

/// The account seeder of a local data directory; it writes beside a server running there.
pub fn local_account_seeder(data_dir: &Path) -> Result<AccountSeeder, StartError> {
    let store = Arc::new(EmbeddedStore::open_beside_server(data_dir)?);
    let keyring = Arc::new(LocalKeyring::open_or_create(data_dir)?);
    Ok(AccountSeeder::new(Arc::clone(&store) as _, store, keyring))
}

/// The HMAC key's rotation steps over a local data directory, re-hashing fingerprints by opening their
/// credentials with the keyring. It takes the directory (a server
/// running there is refused): a server reads the keyring when it starts, so one running across a
/// rotation would go on hashing with the key it read.
pub fn local_hmac_rotation(data_dir: &Path) -> Result<HmacRotation, StartError> {
    // Opening the store takes the directory, before the keyring is read.
    let store = Arc::new(EmbeddedStore::open(data_dir)?);
    let keyring = Arc::new(LocalKeyring::open_or_create(data_dir)?);
    Ok(HmacRotation::new(Arc::clone(&keyring) as _, Arc::clone(&store) as _, store).opening_credentials_with(keyring))
}

/// Every event committed in a local data directory, oldest first, as JSON lines. Read without the
/// directory's lock, so it works while a server runs there; none when there is no store yet.
pub async fn local_events(data_dir: &Path) -> Result<Vec<String>, StartError> {
    if !data_dir.join(EmbeddedStore::FILE_NAME).exists() {
        return Ok(Vec::new());
    }
    Ok(EmbeddedStore::open_read_only(data_dir)?.events().await?)
}

/// The merchant seeder of a local data directory; it writes beside a server running there.
pub fn local_merchant_seeder(data_dir: &Path) -> Result<MerchantSeeder, StartError> {
    let store = Arc::new(EmbeddedStore::open_beside_server(data_dir)?);
    let keyring = Arc::new(LocalKeyring::open_or_create(data_dir)?);
    Ok(MerchantSeeder::new(store, Arc::clone(&keyring) as _, keyring, Arc::new(SystemClock)))
}

/// Starts the sandbox and builds the router over the chosen backend.
///
/// With the local backend, the data directory is taken first: a second process on the same
/// directory stops here, before opening its keyring or store.
pub async fn build(options: &LocalOptions) -> Result<LocalApp, StartError> {
    let data_dir_lock = match options.backend {
        Backend::Local => Some(EmbeddedStore::lock_data_dir(&options.data_dir)?),
        Backend::Aws if options.webhooks.is_empty() => None,
        Backend::Aws => {
            return Err(StartError::Webhooks(
                "delivered from the local store only; on AWS the stack's event bus carries the events \
                 (docs/events.md)"
                    .into(),
            ));
        }
    };
    let keyring = Arc::new(LocalKeyring::open_or_create(&options.data_dir)?);
    let tokens = Arc::new(LocalTokens::new(keyring.token_signing_key().clone()));
    let sandbox_url = crate::sandbox::start().await?;
    let (vault, gateway, connections, authorizer, hold_expirer, deliveries) = match options.backend {
        Backend::Local => {
            let store = Arc::new(EmbeddedStore::open(&options.data_dir)?);
            let hold_expirer = Arc::new(HoldExpirer::new(Arc::clone(&store) as _, Arc::new(SystemClock)));
            let deliveries = crate::webhooks::start(&store, options.webhooks.clone(), options.delivery)
                .map_err(StartError::Webhooks)?;
            let partners = HttpPartnerClient::new(Duration::from_secs(2)).map_err(http_client_error)?;
            let processors = HttpProcessorClient::new(Duration::from_secs(2)).map_err(http_client_error)?;
            let partners = Arc::new(partners);
            let partner_settings =
                Arc::new(endpoint_settings(options.partners_file.as_deref(), SANDBOX_PARTNERS, &sandbox_url)?);
            let vault = CredentialVault::new(
                Arc::clone(&store) as _,
                Arc::clone(&keyring) as _,
                Arc::clone(&partners) as _,
                Arc::clone(&partner_settings) as _,
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            );
            let gateway = PartnerGateway::new(
                Arc::clone(&store) as _,
                Arc::clone(&keyring) as _,
                partners,
                partner_settings,
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            );
            let authorizer = Authorizer::new(
                Arc::clone(&store) as _,
                Arc::clone(&keyring) as _,
                Arc::new(SystemClock),
                Arc::new(RandomIds::default()),
            );
            let connections = MerchantConnections::new(
                store,
                Arc::clone(&keyring) as _,
                keyring,
                Arc::new(processors),
                Arc::new(endpoint_settings(options.processors_file.as_deref(), SANDBOX_PROCESSORS, &sandbox_url)?),
                Arc::new(SystemClock),
            );
            (vault, gateway, connections, authorizer, Some(hold_expirer), deliveries)
        }
        Backend::Aws => {
            // Configured as the stack's functions are: their settings, parsed once, and their wiring.
            let stack = cofre_aws::wiring::whole_stack().await?;
            (
                stack.vault,
                stack.gateway,
                stack.connections,
                stack.authorizer,
                None,
                crate::webhooks::Deliveries::default(),
            )
        }
    };
    let authenticator = Authenticator::Bearer(tokens.clone());
    let credentials = credential_router(CredentialApi { vault: Arc::new(vault), authenticator: authenticator.clone() });
    let merchants =
        merchant_router(MerchantApi { connections: Arc::new(connections), authenticator: authenticator.clone() });
    let authorizations = authorization_router(AuthorizationApi {
        authorizer: Arc::new(authorizer),
        authenticator: authenticator.clone(),
    });
    let gateway = gateway_router(GatewayApi { gateway: Arc::new(gateway), authenticator: authenticator.clone() });
    let router = with_json_fallbacks(credentials.merge(gateway).merge(merchants).merge(authorizations));
    Ok(LocalApp { router, tokens, sandbox_url, data_dir_lock, hold_expirer, deliveries })
}

// ---- Serving: the HTTP/1 loop and its limits ------------------------------------------------------

/// What keeps the server answering whatever its clients do (slow, many, idle or silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections open at once, further capped by the descriptor limit ([`connection_cap`]). At the
    /// cap, a new connection closes the one idle longest (no request in progress: slow or silent
    /// clients, kept-alive connections); with none idle, it waits (the next ones in the listen
    /// backlog) until one finishes or goes idle.
    pub max_connections: usize,
    /// Time a client has to send a request's headers; also how long a connection may sit idle
    /// waiting for its first or next request.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body, from the end of its headers.
    pub body_timeout: Duration,
    /// Time to answer a request, from the end of its headers (body included): `503 REQUEST_TIMEOUT`.
    pub request_timeout: Duration,
    /// The largest body the server reads, whatever the route (each route has its own smaller limit).
    pub max_body_bytes: usize,
}

impl ServeLimits {
    /// The defaults: 512 connections, 10 s for headers (and idle), 10 s for a body, 30 s for an
    /// answer, 1 MiB bodies.
    pub const DEFAULT: Self = Self {
        max_connections: 512,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        max_body_bytes: 1024 * 1024,
    };
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Descriptors kept for everything but client connections (the store's files, the sandbox, the
/// partner and processor connections): this many, or half the limit if that is less.
const RESERVED_DESCRIPTORS: u64 = 128;
/// How long a stopping server waits for its connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection cap: `wanted`, or fewer if this process's descriptor limit (`ulimit -n`) could
/// not hold that many beside [`RESERVED_DESCRIPTORS`].
pub fn connection_cap(wanted: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let available = limit.map_or(usize::MAX, |n| {
        usize::try_from(n.saturating_sub((n / 2).min(RESERVED_DESCRIPTORS))).unwrap_or(usize::MAX)
    });
    wanted.min(available).max(1)
}

/// The listen backlog: connections the kernel completes while the server is busy accepting others
/// (capped by `net.core.somaxconn`). Tokio's default, 128, drops the SYNs of a burst, which then
/// wait a second for their retransmission.
pub const LISTEN_BACKLOG: u32 = 1024;

/// A listener on `addr` with a [`LISTEN_BACKLOG`] backlog.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes, then lets open
/// connections finish their requests (for up to 10 s). Accept errors never stop it: out of
/// descriptors, it closes the connection idle longest and backs off; anything else, it backs off.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = connection_cap(limits.max_connections);
    tracing::info!(
        connections = cap,
        header_timeout_s = limits.header_timeout.as_secs_f64(),
        body_timeout_s = limits.body_timeout.as_secs_f64(),
        request_timeout_s = limits.request_timeout.as_secs_f64(),
        max_body_bytes = limits.max_body_bytes,
        "serving with these limits"
    );
    let connections = Arc::new(Connections::new());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_warning = None;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(&e, &connections, &mut last_warning).await;
                continue;
            }
        };
        if connections.len() >= cap && !connections.close_longest_idle() {
            // Every connection has a request in progress: this one waits for a slot.
            tokio::select! {
                () = &mut shutdown => break,
                () = connections.room(cap) => {}
            }
        }
        // Counted from here, so the next accept sees it.
        let (id, tracked) = connections.add();
        let connection = ServedConnection {
            id,
            tracked,
            router: router.clone(),
            limits,
            connections: Arc::clone(&connections),
            http: Arc::clone(&http),
            stopping: stopping.clone(),
        };
        tokio::spawn(connection.run(stream));
    }
    drop(listener);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, connections.all_closed()).await;
    Ok(())
}

/// An accept that failed: a connection that went away before it was accepted is nothing; out of
/// descriptors (or memory), one is freed by closing the connection idle longest; then a short
/// back-off, so a persistent failure neither spins nor stops the listener. Warned at most once a second.
async fn accept_failed(error: &std::io::Error, connections: &Connections, last_warning: &mut Option<Instant>) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionRefused
            | ErrorKind::Interrupted
    ) {
        return;
    }
    let exhausted =
        [rustix::io::Errno::MFILE, rustix::io::Errno::NFILE, rustix::io::Errno::NOBUFS, rustix::io::Errno::NOMEM]
            .iter()
            .any(|errno| error.raw_os_error() == Some(errno.raw_os_error()));
    let freed = exhausted && connections.close_longest_idle();
    if last_warning.is_none_or(|at: Instant| at.elapsed() >= Duration::from_secs(1)) {
        *last_warning = Some(Instant::now());
        tracing::warn!(error = %error, open = connections.len(), freed, "accepting a connection failed; backing off");
    }
    tokio::time::sleep(if freed { Duration::from_millis(5) } else { Duration::from_millis(100) }).await;
}

/// The open connections: how many, and which has been idle longest.
struct Connections {
    open: std::sync::Mutex<std::collections::HashMap<u64, Arc<Tracked>>>,
    next_id: AtomicU64,
    /// Signalled when a connection closes or goes idle.
    changed: tokio::sync::Notify,
    epoch: Instant,
}

/// One open connection.
struct Tracked {
    /// Requests in progress (from the end of their headers until their answer is sent).
    busy: AtomicUsize,
    /// When it last went idle, in milliseconds since [`Connections::epoch`].
    idle_since: AtomicU64,
    /// Closes it.
    close: tokio::sync::Notify,
}

impl Connections {
    fn new() -> Self {
        Self {
            open: std::sync::Mutex::default(),
            next_id: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
            epoch: Instant::now(),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Arc<Tracked>>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn len(&self) -> usize {
        self.registry().len()
    }

    fn add(&self) -> (u64, Arc<Tracked>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracked = Arc::new(Tracked {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now()),
            close: tokio::sync::Notify::new(),
        });
        self.registry().insert(id, Arc::clone(&tracked));
        (id, tracked)
    }

    fn remove(&self, id: u64) {
        self.registry().remove(&id);
        self.changed.notify_one();
    }

    /// Closes the connection idle longest; `false` if every connection has a request in progress.
    fn close_longest_idle(&self) -> bool {
        let mut open = self.registry();
        let longest = open
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, c)| c.idle_since.load(Ordering::SeqCst))
            .map(|(id, _)| *id);
        match longest.and_then(|id| open.remove(&id)) {
            Some(connection) => {
                connection.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Waits until fewer than `cap` connections are open, closing an idle one if that makes room.
    async fn room(&self, cap: usize) {
        while self.len() >= cap && !self.close_longest_idle() {
            self.wait_for_change().await;
        }
    }

    /// Waits until every connection has closed.
    async fn all_closed(&self) {
        while self.len() > 0 {
            self.wait_for_change().await;
        }
    }

    /// Waits for a connection to close or go idle (or 100 ms, whichever comes first).
    async fn wait_for_change(&self) {
        let _ = tokio::time::timeout(Duration::from_millis(100), self.changed.notified()).await;
    }
}

/// A request in progress on a connection; dropped when its answer has been sent (or abandoned).
struct Busy {
    connection: Arc<Tracked>,
    connections: Arc<Connections>,
}

impl Busy {
    fn start(connection: &Arc<Tracked>, connections: &Arc<Connections>) -> Self {
        connection.busy.fetch_add(1, Ordering::SeqCst);
        Self { connection: Arc::clone(connection), connections: Arc::clone(connections) }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connection.idle_since.store(self.connections.now(), Ordering::SeqCst);
        self.connection.busy.fetch_sub(1, Ordering::SeqCst);
        self.connections.changed.notify_one();
    }
}

/// One accepted connection and what serving it needs.
struct ServedConnection {
    id: u64,
    tracked: Arc<Tracked>,
    router: Router,
    limits: ServeLimits,
    connections: Arc<Connections>,
    http: Arc<hyper::server::conn::http1::Builder>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl ServedConnection {
    async fn run(mut self, stream: tokio::net::TcpStream) {
        let (id, tracked) = (self.id, Arc::clone(&self.tracked));
        // Unregistered however this ends, a panic included.
        let _registered = Registered { id, connections: Arc::clone(&self.connections) };
        let (router, limits, connections) = (self.router, self.limits, Arc::clone(&self.connections));
        let handle = Arc::clone(&tracked);
        let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let busy = Busy::start(&handle, &connections);
            let router = router.clone();
            async move { Ok::<_, std::convert::Infallible>(respond(request, router, limits, busy).await) }
        });
        let served = self.http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let mut served = std::pin::pin!(served);
        let mut draining = false;
        loop {
            tokio::select! {
                // A header timeout or a client going away ends it as well as a clean close does.
                _ = served.as_mut() => break,
                () = tracked.close.notified() => break,
                _ = self.stopping.changed(), if !draining => {
                    draining = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Removes a connection from the registry when dropped.
struct Registered {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

/// Answers one request: its body limited in size and time, its answer in time.
async fn respond(
    request: http::Request<hyper::body::Incoming>,
    router: Router,
    limits: ServeLimits,
    busy: Busy,
) -> http::Response<Answer> {
    let request = request.map(|body| {
        let limited = http_body_util::Limited::new(body, limits.max_body_bytes);
        axum::body::Body::new(Deadline { inner: limited, timer: Box::pin(tokio::time::sleep(limits.body_timeout)) })
    });
    let method = request.method().clone();
    let response = match tokio::time::timeout(limits.request_timeout, router.oneshot(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::warn!(%method, timeout_s = limits.request_timeout.as_secs_f64(), "a request timed out");
            let body = serde_json::json!({ "code": "REQUEST_TIMEOUT", "message": "The request took too long" });
            axum::response::IntoResponse::into_response((http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)))
        }
    };
    response.map(|inner| Answer { inner, _busy: busy })
}

/// The body's deadline passed before all of it arrived.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

/// A request body that fails if it has not all arrived when its timer fires.
struct Deadline<B> {
    inner: B,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|frame| frame.map_err(Into::into))),
            Poll::Pending if this.timer.as_mut().poll(cx).is_ready() => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body, holding its request's [`Busy`] until it has been sent.
struct Answer {
    inner: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
