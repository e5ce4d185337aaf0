//! `cofre-local`: run the API locally, mint tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand};
use cofre_domain::tenant::TenantId;
use cofre_local::LocalTokens;
use cofre_local::server::{
    Backend, LocalOptions, ServeLimits, build, connection_cap, local_account_seeder, local_events, local_hmac_rotation,
    local_merchant_seeder, local_tokens,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The tenant of the token printed at start-up.
const DEMO_TENANT: &str = "demo-tenant";

#[derive(Parser)]
#[command(name = "cofre-local", about = "Cofre's local server and admin CLI")]
struct Cli {
    /// Where the store and keyring live; data survives restarts.
    #[arg(long, env = "COFRE_DATA_DIR", default_value = ".cofre", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    /// Print a bearer token for a tenant (last line of output).
    Token {
        /// The tenant (`tenant_id` claim).
        #[arg(long)]
        tenant: String,
        /// Space-separated scopes (`scope` claim).
        #[arg(long)]
        scope: Option<String>,
        /// Validity in hours (at most 24: the server refuses longer-lived tokens).
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Load fixtures (`{"merchants": [...], "accounts": [...], "webhooks": [...]}`) into the store the
    /// server uses (webhooks are checked, and delivered by `serve --webhooks FILE`). Idempotent.
    Seed {
        /// The seed file.
        file: PathBuf,
        /// Where to load them: the local data directory or DynamoDB/KMS/Secrets Manager.
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
    },
    /// Print every authorization event of the local data directory, one JSON object per line.
    Events,
    /// Rotate the HMAC key of fingerprints, PAN hashes and request digests, one step at a time
    /// (docs/operations.md, "Rotating the HMAC key"). Locally, stop the server first.
    HmacKey {
        /// The step.
        #[command(subcommand)]
        step: HmacKeyStep,
        /// The local data directory's keyring and store, or the stack's secret, tables and data key
        /// (`aws`, configured by the Lambda variables).
        #[arg(long, value_enum, default_value = "local", global = true)]
        backend: Backend,
    },
}

#[derive(Subcommand)]
enum HmacKeyStep {
    /// Print the keyring's keys, which is current, and how many stored hashes name each (a scan).
    Status,
    /// Add a new random key, not current yet; prints its id.
    Add,
    /// Make a key current: every hash made from now on is made with it.
    Promote {
        /// The key's id (`k2`…).
        id: String,
    },
    /// Re-hash every connection fingerprint under the current key; list the cards hashed under another
    /// (seeding their accounts again re-hashes them).
    Rehash,
    /// Remove a key from the keyring: refused while it is current or any stored hash names it.
    Retire {
        /// The key's id.
        id: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COFRE_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Adapters: `local` (embedded store, keyring, sandbox) or `aws` (DynamoDB/KMS/Secrets Manager).
    #[arg(long, value_enum, default_value = "local")]
    backend: Backend,
    /// Partner settings file; `{sandbox}` in a base_url stands for the built-in sandbox.
    #[arg(long, env = "COFRE_PARTNERS")]
    partners: Option<PathBuf>,
    /// Processor settings file; `{sandbox}` in a base_url stands for the built-in sandbox.
    #[arg(long, env = "COFRE_PROCESSORS")]
    processors: Option<PathBuf>,
    /// Validity of the bearer token printed at start-up (`30m`, `1h`, `8h`…; at most 24h).
    #[arg(long, env = "COFRE_TOKEN_TTL", default_value = "1h", value_parser = token_ttl)]
    token_ttl: Duration,
    /// Connections open at once (fewer if `ulimit -n` cannot hold them); at the cap a new one closes
    /// the connection idle longest.
    #[arg(long, env = "COFRE_MAX_CONNECTIONS", default_value_t = ServeLimits::DEFAULT.max_connections,
          value_parser = at_least_one)]
    max_connections: usize,
    /// Time a client has to send its request headers; also how long an idle connection is kept.
    #[arg(long, env = "COFRE_HEADER_TIMEOUT", default_value = "10s", value_parser = duration)]
    header_timeout: Duration,
    /// Time a client has to send a request body, once its headers are in.
    #[arg(long, env = "COFRE_BODY_TIMEOUT", default_value = "10s", value_parser = duration)]
    body_timeout: Duration,
    /// Time to answer a request, once its headers are in (503 `REQUEST_TIMEOUT` after it).
    #[arg(long, env = "COFRE_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration)]
    request_timeout: Duration,
    /// A fixtures file (as `seed` reads it) whose `webhooks` get their tenants' events, signed
    /// (docs/events.md). The file is read, not copied: secrets stay where you put them.
    #[arg(long, env = "COFRE_WEBHOOKS")]
    webhooks: Option<PathBuf>,
}

impl ServeArgs {
    /// The arguments of a bare `cofre-local`: every default, and whatever the environment sets.
    fn from_env() -> Result<Self, clap::Error> {
        let matches = Self::augment_args(clap::Command::new("serve")).try_get_matches_from(["serve"])?;
        Self::from_arg_matches(&matches)
    }

    fn limits(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            request_timeout: self.request_timeout,
            ..ServeLimits::DEFAULT
        }
    }
}

/// A duration: a whole number with a unit, `ms`, `s`, `m` or `h` (`10s`, `500ms`, `1h`), or of
/// seconds without one; more than zero.
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 10s, 500ms, 1h"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" | "min" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        other => return Err(format!("unknown unit `{other}` in `{text}` (ms, s, m or h)")),
    };
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

/// A count of one or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse() {
        Ok(0) | Err(_) => Err(format!("`{text}` is not a number of 1 or more")),
        Ok(n) => Ok(n),
    }
}

/// The start-up token's validity: a [`duration`] of at most a day (what the verifier accepts).
fn token_ttl(text: &str) -> Result<Duration, String> {
    let ttl = duration(text)?;
    if ttl > LocalTokens::MAX_LIFETIME {
        return Err("at most 24h: the server refuses tokens that live longer".to_owned());
    }
    Ok(ttl)
}

/// `1 h`, `90 min`, `45 s`: how long a token lives, for the banner.
fn human(duration: Duration) -> String {
    match duration.as_secs() {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn token(data_dir: &std::path::Path, tenant: &str, scope: Option<&str>, hours: u64) -> Result<String, String> {
    let tenant = TenantId::parse(tenant).map_err(|e| e.to_string())?;
    let ttl = Duration::from_secs(hours.saturating_mul(3600));
    if ttl > LocalTokens::MAX_LIFETIME {
        return Err(format!("--hours {hours}: at most 24, the server refuses tokens that live longer"));
    }
    let tokens = local_tokens(data_dir).map_err(|e| e.to_string())?;
    tokens.mint(&tenant, scope, ttl).map_err(|e| e.to_string())
}

/// The seed file: fixtures per area.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    merchants: Vec<serde_json::Value>,
    #[serde(default)]
    accounts: Vec<serde_json::Value>,
    /// Where tenants' events go: read by `serve --webhooks`, checked by `seed`, stored nowhere.
    #[serde(default)]
    webhooks: Vec<serde_json::Value>,
}

impl SeedFile {
    fn read(file: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
    }

    fn webhooks(&self, file: &std::path::Path) -> Result<Vec<cofre_local::webhooks::Webhook>, String> {
        cofre_local::webhooks::parse_webhooks(&self.webhooks).map_err(|e| format!("{}: {e}", file.display()))
    }
}

async fn seed(data_dir: &std::path::Path, file: &std::path::Path, backend: Backend) -> Result<(), String> {
    let seed = SeedFile::read(file)?;
    let webhooks = seed.webhooks(file)?;
    let (merchants, accounts) = match backend {
        Backend::Local => (
            local_merchant_seeder(data_dir).map_err(|e| e.to_string())?,
            local_account_seeder(data_dir).map_err(|e| e.to_string())?,
        ),
        Backend::Aws => {
            let settings = cofre_aws::wiring::StackSettings::from_env().map_err(|e| e.to_string())?;
            let aws = cofre_aws::wiring::AwsClients::from(&cofre_aws::wiring::sdk_config().await);
            (
                cofre_aws::wiring::merchant_seeder(&aws, &settings.merchants),
                cofre_aws::wiring::account_seeder(&aws, &settings.authorizations),
            )
        }
    };
    if !seed.merchants.is_empty() {
        let report = merchants.seed(&seed.merchants).await.map_err(|e| e.to_string())?;
        println!("merchants: {} inserted, {} unchanged", report.inserted, report.unchanged);
    }
    if !seed.accounts.is_empty() {
        let report = accounts.seed(&seed.accounts).await.map_err(|e| e.to_string())?;
        println!("accounts: {} inserted, {} unchanged", report.inserted, report.unchanged);
        if report.rehashed > 0 {
            println!("cards re-hashed under the current HMAC key: {}", report.rehashed);
        }
    }
    match (webhooks.len(), backend) {
        (0, _) => {}
        (n, Backend::Local) => {
            println!("webhooks: {n} (delivered by `cofre-local serve --webhooks {}`)", file.display())
        }
        (n, Backend::Aws) => println!("webhooks: {n} (local only: on AWS the event bus carries the events)"),
    }
    Ok(())
}

async fn hmac_key(data_dir: &std::path::Path, step: HmacKeyStep, backend: Backend) -> Result<(), String> {
    use cofre_domain::crypto::HmacKeyId;
    let rotation = match backend {
        Backend::Local => local_hmac_rotation(data_dir).map_err(|e| e.to_string())?,
        Backend::Aws => {
            let settings = cofre_aws::wiring::StackSettings::from_env().map_err(|e| e.to_string())?;
            let aws = cofre_aws::wiring::AwsClients::from(&cofre_aws::wiring::sdk_config().await);
            cofre_aws::wiring::hmac_rotation(&aws, &settings.merchants, &settings.authorizations)
        }
    };
    let id = |raw: &str| HmacKeyId::parse(raw).ok_or_else(|| format!("`{raw}` is not a key id (k1, k2…)"));
    match step {
        HmacKeyStep::Status => {
            let keyring = rotation.keyring().await.map_err(|e| e.to_string())?;
            println!("current: {}", keyring.current());
            for (key, count) in rotation.usage().await.map_err(|e| e.to_string())? {
                let held = if keyring.holds(&key) { "" } else { " (not in the keyring!)" };
                println!("{key}: {} fingerprints, {} cards{held}", count.fingerprints, count.cards);
            }
        }
        HmacKeyStep::Add => {
            use aws_lc_rs::rand::SecureRandom;
            let mut key = vec![0_u8; 32];
            aws_lc_rs::rand::SystemRandom::new().fill(&mut key).map_err(|_| "no randomness available".to_owned())?;
            let added = rotation.add(cofre_domain::secret::SecretBytes::new(key)).await.map_err(|e| e.to_string())?;
            eprintln!("added; make it current once every reader has it: cofre-local hmac-key promote {added}");
            println!("{added}");
        }
        HmacKeyStep::Promote { id: raw } => {
            rotation.make_current(&id(&raw)?).await.map_err(|e| e.to_string())?;
            println!("{raw} is current");
        }
        HmacKeyStep::Rehash => {
            let report = rotation.rehash().await.map_err(|e| e.to_string())?;
            println!(
                "fingerprints: {} re-hashed, {} changed meanwhile (re-hashed by their rotation), {} left (see the log)",
                report.fingerprints_rehashed, report.fingerprints_changed, report.fingerprints_left
            );
            println!(
                "connections hashed under another key: {} (re-hashed when their credentials are set or rotated, or \
                 re-sent as they are on file)",
                report.stale_connections.len()
            );
            for stale in &report.stale_connections {
                println!(
                    "tenant {} merchant {} connection {}: {}",
                    stale.tenant, stale.merchant, stale.connection, stale.key_id
                );
            }
            println!(
                "cards hashed under another key: {} (seed their accounts again to re-hash them)",
                report.stale_cards.len()
            );
            for card in &report.stale_cards {
                println!("tenant {} account {} card {}: {}", card.tenant, card.account, card.card_id, card.key_id);
            }
        }
        HmacKeyStep::Retire { id: raw } => {
            rotation.retire(&id(&raw)?).await.map_err(|e| e.to_string())?;
            println!("{raw} retired");
        }
    }
    Ok(())
}

async fn serve(data_dir: PathBuf, args: ServeArgs) -> Result<(), String> {
    let webhooks = match &args.webhooks {
        Some(file) => SeedFile::read(file)?.webhooks(file)?,
        None => Vec::new(),
    };
    let options = LocalOptions {
        data_dir,
        backend: args.backend,
        partners_file: args.partners.clone(),
        processors_file: args.processors.clone(),
        webhooks,
        delivery: cofre_local::webhooks::DeliveryOptions::DEFAULT,
    };
    let app = build(&options).await.map_err(|e| e.to_string())?;
    let addr = args.addr;
    let listener = cofre_local::server::listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tenant = TenantId::parse(DEMO_TENANT).map_err(|e| e.to_string())?;
    let demo_token = app.tokens.mint(&tenant, None, args.token_ttl).map_err(|e| e.to_string())?;
    let limits = args.limits();
    println!(
        "Cofre is listening on http://{addr} (backend: {:?}, data: {})",
        options.backend,
        options.data_dir.display()
    );
    println!("Partner sandbox: {}", app.sandbox_url);
    println!(
        "Limits: {} connections, {} for headers (and idle), {} for a body, {} for an answer",
        connection_cap(limits.max_connections),
        human(limits.header_timeout),
        human(limits.body_timeout),
        human(limits.request_timeout)
    );
    for webhook in &options.webhooks {
        println!("Webhook: {}'s events to {}", webhook.tenant, webhook.origin());
    }
    println!("Bearer token for tenant {DEMO_TENANT} ({}):", human(args.token_ttl));
    println!("{demo_token}");
    // Stopped with the process: each expiry is its own atomic write, so nothing is lost mid-sweep.
    let _sweeps = app.hold_expirer.clone().map(|expirer| {
        println!("Holds expire: swept every {}", human(cofre_local::hold_sweeper::SWEEP_EVERY));
        cofre_local::hold_sweeper::spawn(expirer, cofre_local::hold_sweeper::SWEEP_EVERY)
    });
    cofre_local::server::serve(listener, app.router, limits, stop_requested()).await.map_err(|e| e.to_string())
}

/// Ctrl-C, or SIGTERM (what `kill`, systemd and container runtimes send): either stops the server
/// gracefully, so requests in progress finish and the store's queued writes are written.
async fn stop_requested() {
    #[cfg(unix)]
    if let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Logs as every binary writes them (JSON lines): on stdout for the server, on stderr for the other
/// commands, whose stdout is their output (the token, the events, the seed report).
fn init_logs(command: Option<&Command>) {
    if matches!(command, None | Some(Command::Serve(_))) {
        cofre_http::telemetry::init();
    } else {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = cofre_http::telemetry::log_filter(std::env::var("RUST_LOG").ok().as_deref());
        let logs = cofre_http::telemetry::json_layer(std::io::stderr, filter);
        let _ = tracing_subscriber::registry().with(logs).try_init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.command.as_ref());
    let outcome = match cli.command {
        None => match ServeArgs::from_env() {
            Ok(args) => serve(cli.data_dir, args).await,
            Err(e) => Err(e.to_string()),
        },
        Some(Command::Serve(args)) => serve(cli.data_dir, args).await,
        Some(Command::Token { tenant, scope, hours }) => {
            token(&cli.data_dir, &tenant, scope.as_deref(), hours).map(|t| println!("{t}"))
        }
        Some(Command::Seed { file, backend }) => seed(&cli.data_dir, &file, backend).await,
        Some(Command::HmacKey { step, backend }) => hmac_key(&cli.data_dir, step, backend).await,
        Some(Command::Events) => match local_events(&cli.data_dir).await {
            Ok(events) => print_lines(&events),
            Err(e) => Err(e.to_string()),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cofre-local: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line each on stdout. A reader that stops early (`cofre-local events | head`) ends the output,
/// not the process with a panic, as `println!` would on the closed pipe.
fn print_lines(lines: &[String]) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(format!("stdout: {e}")),
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}
