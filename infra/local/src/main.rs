//! `cofre-local`: run the API locally, mint tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use cofre_domain::tenant::TenantId;
use cofre_local::server::{
    Backend, LocalOptions, build, local_account_seeder, local_events, local_merchant_seeder, local_tokens,
};

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
        /// Validity in hours.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Load fixtures (`{"merchants": [...], "accounts": [...]}`) into the store the server uses. Idempotent.
    Seed {
        /// The seed file.
        file: PathBuf,
        /// Where to load them: the local data directory or DynamoDB/KMS/Secrets Manager.
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
    },
    /// Print every authorization event of the local data directory, one JSON object per line.
    Events,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COFRE_ADDR", default_value = "127.0.0.1:3000")]
    addr: Option<SocketAddr>,
    /// Adapters: `local` (embedded store, keyring, sandbox) or `aws` (DynamoDB/KMS/Secrets Manager).
    #[arg(long, value_enum, default_value = "local")]
    backend: Option<Backend>,
    /// Partner settings file; `{sandbox}` in a base_url stands for the built-in sandbox.
    #[arg(long, env = "COFRE_PARTNERS")]
    partners: Option<PathBuf>,
    /// Processor settings file; `{sandbox}` in a base_url stands for the built-in sandbox.
    #[arg(long, env = "COFRE_PROCESSORS")]
    processors: Option<PathBuf>,
}

fn token(data_dir: &std::path::Path, tenant: &str, scope: Option<&str>, hours: u64) -> Result<String, String> {
    let tenant = TenantId::parse(tenant).map_err(|e| e.to_string())?;
    let tokens = local_tokens(data_dir).map_err(|e| e.to_string())?;
    tokens.mint(&tenant, scope, Duration::from_secs(hours * 3600)).map_err(|e| e.to_string())
}

/// The seed file: fixtures per area.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    merchants: Vec<serde_json::Value>,
    #[serde(default)]
    accounts: Vec<serde_json::Value>,
}

async fn seed(data_dir: &std::path::Path, file: &std::path::Path, backend: Backend) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let seed: SeedFile = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
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
        let (inserted, unchanged) = accounts.seed(&seed.accounts).await.map_err(|e| e.to_string())?;
        println!("accounts: {inserted} inserted, {unchanged} unchanged");
    }
    Ok(())
}

async fn serve(data_dir: PathBuf, args: ServeArgs) -> Result<(), String> {
    let addr = args.addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
    let options = LocalOptions {
        data_dir,
        backend: args.backend.unwrap_or(Backend::Local),
        partners_file: args.partners,
        processors_file: args.processors,
    };
    let app = build(&options).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tenant = TenantId::parse(DEMO_TENANT).map_err(|e| e.to_string())?;
    let demo_token = app.tokens.mint(&tenant, None, Duration::from_secs(24 * 3600)).map_err(|e| e.to_string())?;
    println!(
        "Cofre is listening on http://{addr} (backend: {:?}, data: {})",
        options.backend,
        options.data_dir.display()
    );
    println!("Partner sandbox: {}", app.sandbox_url);
    println!("Bearer token for tenant {DEMO_TENANT} (24 h):");
    println!("{demo_token}");
    axum::serve(listener, app.router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    cofre_http::telemetry::init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        None => serve(cli.data_dir, ServeArgs::default()).await,
        Some(Command::Serve(args)) => serve(cli.data_dir, args).await,
        Some(Command::Token { tenant, scope, hours }) => {
            token(&cli.data_dir, &tenant, scope.as_deref(), hours).map(|t| println!("{t}"))
        }
        Some(Command::Seed { file, backend }) => seed(&cli.data_dir, &file, backend).await,
        Some(Command::Events) => match local_events(&cli.data_dir).await {
            Ok(events) => {
                events.iter().for_each(|e| println!("{e}"));
                Ok(())
            }
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
