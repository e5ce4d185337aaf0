//! Authorizations at scale: `cofre-local serve` under closed-loop load at a few connection counts,
//! side by side with two floors, and the ledger checked afterwards.
//!
//! ```sh
//! cargo build --profile server -p cofre-local --bins --examples
//! "$CARGO_TARGET_DIR"/server/examples/authorization_load [--bin PATH] [--connections 8,64]
//!     [--seconds 10] [--warmup 2] [--rounds 3] [--port 47310] [--data-dir-in DIR]
//! ```
//!
//! It runs the server as a user does, from its binary (`--bin`; default: `cofre-local` next to this
//! example's directory), so any build can be measured, the current one and an older one alike:
//!
//! 1. a fresh data directory; `cofre-local seed` loads `--accounts` accounts of tenant `load-tenant`
//!    with a limit no run can exhaust; `cofre-local token` mints the bearer token;
//! 2. `cofre-local serve --addr 127.0.0.1:{port}` (logs to /dev/null), and this program itself as the
//!    axum floor (`--serve-floor`, a separate process too) on `{port + 1}`;
//! 3. for each connection count, `--rounds` rounds of three phases, each `--warmup` s unmeasured then
//!    `--seconds` s measured:
//!    - `floor`: the same request to a bare axum server that reads the body and answers 200 with a
//!      fixed JSON of an authorization answer's size (the HTTP floor of this machine);
//!    - `404`: the same request to an unknown path of cofre-local (its HTTP stack, router and
//!      middleware, no store);
//!    - `authorize`: `POST /payment-methods/v1/authorization`, a `0100` of 0.01 BRL on one of the
//!      accounts by `account_id`, every request with its own `tracking_id`; only `APPROVED` counts;
//!    - `store` (not by default): the same request to the store peer (`--serve-store-peer`, on
//!      `{port + 2}`, see `store_peer.rs` beside this file): the embedded store's reads and write
//!      for that decision, with Cofre's domain left out;
//! 4. stops the server with SIGKILL and checks the data directory: every decision acknowledged is
//!    recorded, with its two events, and the accounts' spent amounts add up to the approvals.
//!
//! The client is a minimal HTTP/1.1 keep-alive client (one TCP connection per simulated client, one
//! request at a time) on one thread (`--client-threads`), so it takes as little as possible of the
//! machine the server runs on. A latency is from writing the request to having read the whole answer.
//! The server's CPU time and context switches per request come from `/proc` (Linux only).

use std::error::Error;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod store_peer;

// The store peer serves from this process, as `cofre-local serve` does with this allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Failure = Box<dyn Error + Send + Sync>;

const TENANT: &str = "load-tenant";
const AUTHORIZE: &str = "/payment-methods/v1/authorization";
const NOT_FOUND: &str = "/payment-methods/v1/no-such-route";
/// What the floor answers: the size and shape of an authorization answer.
const FLOOR_ANSWER: &str = r#"{"authorization_id":373410039153925,"tracking_id":"l0-00-000000000","mti":"0100","status":"APPROVED","response_code":"00","denial_code":null,"authorization_code":"OGWTCP","amount":0.01,"currency":"BRL","account_id":1,"clearing_type":"OFFLINE","validation_results":[{"name":"ACCOUNT","status":"APPROVED","reason":null},{"name":"ACCOUNT_STATUS","status":"APPROVED","reason":null},{"name":"CURRENCY","status":"APPROVED","reason":null},{"name":"LEDGER","status":"APPROVED","reason":null}],"overrides_applied":[],"created_at":"2026-01-01T00:00:00Z"}"#;

#[derive(Parser)]
#[command(about = "cofre-local authorizations under load, side by side with an axum floor")]
struct Args {
    /// The `cofre-local` binary to measure (default: next to this example's directory).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    connections: Vec<usize>,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured seconds before each phase.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Rounds of the phases per connection count.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Accounts the authorizations spread over.
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    /// cofre-local listens on 127.0.0.1:PORT, the floor on PORT + 1, the store peer on PORT + 2.
    #[arg(long, default_value_t = 47310)]
    port: u16,
    /// Where to create the (fresh, temporary) data directory; default: the system temp directory.
    #[arg(long)]
    data_dir_in: Option<PathBuf>,
    /// Threads of the load generator.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Phases to run: any of floor, 404, authorize, store.
    #[arg(long, value_delimiter = ',', default_value = "floor,404,authorize")]
    phases: Vec<String>,
    /// Internal: serve the axum floor on this address and never return.
    #[arg(long, hide = true)]
    serve_floor: Option<SocketAddr>,
    /// Internal: serve the store peer on this address, over a store in `--store-peer-dir`.
    #[arg(long, hide = true, requires = "store_peer_dir")]
    serve_store_peer: Option<SocketAddr>,
    #[arg(long, hide = true)]
    store_peer_dir: Option<PathBuf>,
}

fn main() -> Result<(), Failure> {
    let args = Args::parse();
    if let Some(addr) = args.serve_floor {
        return serve_floor(addr);
    }
    if let (Some(addr), Some(dir)) = (args.serve_store_peer, &args.store_peer_dir) {
        return store_peer::serve(addr, dir, args.accounts as u64);
    }
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads).enable_all().build()?
    };
    runtime.block_on(run(args))
}

/// The floor: a bare axum server, as many workers as CPUs (as `cofre-local serve`).
fn serve_floor(addr: SocketAddr) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let answer =
            |_body: axum::body::Bytes| async { ([(http::header::CONTENT_TYPE, "application/json")], FLOOR_ANSWER) };
        let router = axum::Router::new().route(AUTHORIZE, axum::routing::post(answer));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        axum::serve(listener, router).await?;
        Ok(())
    })
}

/// The store peer, started on a fresh store in `dir` and listening on `addr`.
async fn store_peer_process(addr: SocketAddr, dir: &Path, accounts: usize) -> Result<Process, Failure> {
    let peer = Process {
        child: Command::new(std::env::current_exe()?)
            .args(["--serve-store-peer", &addr.to_string(), "--accounts", &accounts.to_string()])
            .arg("--store-peer-dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?,
    };
    wait_listening(addr).await?;
    Ok(peer)
}

/// A child process killed (SIGKILL) when dropped.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(bin: &Path, data: &Path, args: &[&str]) -> Result<String, Failure> {
    let output = Command::new(bin).args(args).env("COFRE_DATA_DIR", data).stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Err(format!("{} {args:?}: {}", bin.display(), output.status).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

async fn wait_listening(addr: SocketAddr) -> Result<(), Failure> {
    let started = Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!("nothing listens on {addr} after 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// What is sent, and what counts as a good answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Floor,
    NotFound,
    Authorize,
    StorePeer,
}

impl Phase {
    fn parse(name: &str) -> Result<Self, Failure> {
        match name {
            "floor" => Ok(Self::Floor),
            "404" => Ok(Self::NotFound),
            "authorize" => Ok(Self::Authorize),
            "store" => Ok(Self::StorePeer),
            other => Err(format!("unknown phase {other}").into()),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Floor => "floor (axum)",
            Self::NotFound => "cofre 404",
            Self::Authorize => "authorize",
            Self::StorePeer => "store peer",
        }
    }
}

/// One connection's target.
#[derive(Clone)]
struct Target {
    phase: Phase,
    addr: SocketAddr,
    token: String,
    accounts: usize,
    /// Distinguishes tracking_ids across phases.
    run: usize,
}

/// What one connection did.
#[derive(Default)]
struct Tally {
    /// Latencies of requests measured, in µs.
    samples: Vec<u32>,
    /// Approvals (warm-up included).
    approved: u64,
    /// Answers not as expected (never counted in throughput).
    unexpected: u64,
    first_unexpected: Option<String>,
}

fn request(buf: &mut Vec<u8>, target: &Target, connection: usize, seq: u64) {
    buf.clear();
    let path = match target.phase {
        Phase::NotFound => NOT_FOUND,
        Phase::Floor | Phase::Authorize | Phase::StorePeer => AUTHORIZE,
    };
    let account = 1 + (connection + seq as usize) % target.accounts;
    let body = format!(
        r#"{{"mti":"0100","amount":0.01,"currency":"BRL","network":"VISA","account_id":{account},"entry_mode":"01","processing_code":"003000","tracking_id":"l{}-{connection}-{seq}"}}"#,
        target.run
    );
    let _ = write!(
        buf,
        "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        target.addr,
        target.token,
        body.len()
    );
}

/// Reads one answer: its status and body.
async fn answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, std::ops::Range<usize>), Failure> {
    buf.clear();
    let head_end = loop {
        if stream.read_buf(buf).await? == 0 {
            return Err("connection closed".into());
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    let status: u16 = head.get(9..12).ok_or("short status line")?.parse()?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok()).flatten()
        })
        .ok_or("no content-length")?;
    while buf.len() < head_end + length {
        if stream.read_buf(buf).await? == 0 {
            return Err("connection closed mid-body".into());
        }
    }
    Ok((status, head_end..head_end + length))
}

/// One closed-loop connection: requests until `end`, latencies recorded from `measure_from`.
async fn connection(target: Target, index: usize, measure_from: Instant, end: Instant) -> Result<Tally, Failure> {
    let mut stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (mut out, mut inb) = (Vec::with_capacity(1024), Vec::with_capacity(8192));
    let mut tally = Tally::default();
    let mut seq = 0_u64;
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok(tally);
        }
        request(&mut out, &target, index, seq);
        seq += 1;
        stream.write_all(&out).await?;
        let (status, body) = answer(&mut stream, &mut inb).await?;
        let elapsed = started.elapsed();
        let body = &inb[body];
        let approved = body.windows(19).any(|w| w == br#""status":"APPROVED""#);
        let good = match target.phase {
            Phase::Floor | Phase::StorePeer => status == 200,
            Phase::NotFound => status == 404,
            Phase::Authorize => status == 200 && approved,
        };
        if !good {
            tally.unexpected += 1;
            tally.first_unexpected.get_or_insert_with(|| {
                format!("{status} {}", String::from_utf8_lossy(body).chars().take(300).collect::<String>())
            });
            continue;
        }
        if matches!(target.phase, Phase::Authorize | Phase::StorePeer) {
            tally.approved += 1;
        }
        if started >= measure_from {
            tally.samples.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
        }
    }
}

/// The server's CPU time (user + system) and context switches (every thread's, voluntary or not).
fn server_usage(pid: u32) -> Option<(Duration, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    let cpu = Duration::from_millis(ticks * 10);
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(status) = std::fs::read_to_string(task.ok()?.path().join("status")) else { continue };
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Some((cpu, switches))
}

/// One phase's measurements.
struct Measured {
    requests: usize,
    samples: Vec<u32>,
    seconds: f64,
    server_cpu: Option<Duration>,
    server_switches: Option<u64>,
    approved: u64,
}

async fn phase(
    target: &Target,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    pid: Option<u32>,
) -> Result<Measured, Failure> {
    let measure_from = Instant::now() + warmup;
    let end = measure_from + measure;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        tasks.spawn(connection(target.clone(), i, measure_from, end));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let before = pid.and_then(server_usage);
    tokio::time::sleep_until(end.into()).await;
    let after = pid.and_then(server_usage);
    let mut measured = Measured {
        requests: 0,
        samples: Vec::new(),
        seconds: measure.as_secs_f64(),
        server_cpu: None,
        server_switches: None,
        approved: 0,
    };
    let mut unexpected = (0, None);
    while let Some(tally) = tasks.join_next().await {
        let tally = tally??;
        measured.samples.extend_from_slice(&tally.samples);
        measured.approved += tally.approved;
        unexpected.0 += tally.unexpected;
        if unexpected.1.is_none() {
            unexpected.1 = tally.first_unexpected;
        }
    }
    if unexpected.0 > 0 {
        return Err(format!(
            "{}: {} unexpected answers, the first: {}",
            target.phase.label(),
            unexpected.0,
            unexpected.1.unwrap_or_default()
        )
        .into());
    }
    measured.requests = measured.samples.len();
    if let (Some(b), Some(a)) = (before, after) {
        measured.server_cpu = Some(a.0.saturating_sub(b.0));
        measured.server_switches = Some(a.1.saturating_sub(b.1));
    }
    Ok(measured)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// Every round of one phase at one connection count, summed.
struct Summary {
    rps: f64,
    rps_rounds: Vec<f64>,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    cpu_us: Option<f64>,
    switches: Option<f64>,
}

fn summarize(rounds: &[Measured]) -> Summary {
    let mut samples: Vec<u32> = rounds.iter().flat_map(|m| m.samples.iter().copied()).collect();
    samples.sort_unstable();
    let requests: usize = rounds.iter().map(|m| m.requests).sum();
    let seconds: f64 = rounds.iter().map(|m| m.seconds).sum();
    let per_request = |total: Option<f64>| total.map(|t| t / requests.max(1) as f64);
    let cpu: Option<f64> = rounds.iter().map(|m| m.server_cpu.map(|c| c.as_secs_f64() * 1e6)).sum();
    let switches: Option<f64> = rounds.iter().map(|m| m.server_switches.map(|s| s as f64)).sum();
    Summary {
        rps: requests as f64 / seconds,
        rps_rounds: rounds.iter().map(|m| m.requests as f64 / m.seconds).collect(),
        p50: percentile(&samples, 50.0),
        p90: percentile(&samples, 90.0),
        p99: percentile(&samples, 99.0),
        max: samples.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        cpu_us: per_request(cpu),
        switches: per_request(switches),
    }
}

fn seed_file(dir: &Path, accounts: usize) -> Result<PathBuf, Failure> {
    let accounts: Vec<serde_json::Value> = (1..=accounts)
        .map(|id| {
            serde_json::json!({ "tenant_id": TENANT, "account_id": id, "program_id": 1,
                "document_number": format!("{:011}", 90_000_000_000_u64 + id as u64), "status": "NORMAL", "currency": "BRL",
                "limit": "1000000000.00", "cards": [] })
        })
        .collect();
    let path = dir.join("load-seed.json");
    std::fs::write(&path, serde_json::to_vec(&serde_json::json!({ "accounts": accounts }))?)?;
    Ok(path)
}

/// After the run: what the data directory holds against what was acknowledged.
fn check_ledger(db: &Path, approved: u64) -> Result<String, Failure> {
    let connection = rusqlite::Connection::open(db)?;
    let pk = format!("TENANT#{TENANT}");
    let decisions: u64 =
        connection.query_row("SELECT count(*) FROM items WHERE pk = ?1 AND sk LIKE 'TRACK#%'", [&pk], |r| r.get(0))?;
    let events: u64 = connection.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let mut statement = connection.prepare("SELECT body FROM items WHERE pk = ?1 AND sk LIKE 'ACCOUNT#%'")?;
    let mut spent = 0_i64;
    for body in statement.query_map([&pk], |r| r.get::<_, String>(0))? {
        let account: serde_json::Value = serde_json::from_str(&body?)?;
        spent += account["limit"].as_i64().ok_or("no limit")? - account["available"].as_i64().ok_or("no available")?;
    }
    let line = format!(
        "ledger after SIGKILL: {approved} approvals acknowledged; {decisions} decisions recorded, {events} events, {spent} cents spent"
    );
    if decisions != approved || events != 2 * approved || spent != i64::try_from(approved)? {
        return Err(format!("{line}: DOES NOT ADD UP").into());
    }
    Ok(format!("{line}: adds up"))
}

async fn run(args: Args) -> Result<(), Failure> {
    let phases: Vec<Phase> = args.phases.iter().map(|p| Phase::parse(p)).collect::<Result<_, _>>()?;
    if args.accounts == 0 || args.rounds == 0 || args.seconds == 0 || args.connections.contains(&0) {
        return Err("--accounts, --rounds, --seconds and every --connections must be at least 1".into());
    }
    let bin = match args.bin {
        Some(bin) => bin,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .ok_or("no directory above this example")?
            .join("cofre-local"),
    };
    let data = match &args.data_dir_in {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    let seeded = cli(&bin, data.path(), &["seed", &seed_file(data.path(), args.accounts)?.to_string_lossy()])?;
    let token = cli(&bin, data.path(), &["token", "--tenant", TENANT])?.lines().last().ok_or("no token")?.to_owned();

    let cofre_addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let port = |offset: u16| args.port.checked_add(offset).ok_or("--port leaves no room for the floor and the peer");
    let floor_addr = SocketAddr::from(([127, 0, 0, 1], port(1)?));
    let server = Process {
        child: Command::new(&bin)
            .args(["serve", "--addr", &cofre_addr.to_string()])
            .env("COFRE_DATA_DIR", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?,
    };
    let floor = Process {
        child: Command::new(std::env::current_exe()?)
            .args(["--serve-floor", &floor_addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?,
    };
    wait_listening(cofre_addr).await?;
    wait_listening(floor_addr).await?;
    let peer_addr = SocketAddr::from(([127, 0, 0, 1], port(2)?));

    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!("cofre-local authorizations under load: {}", bin.display());
    println!(
        "{cpus} CPUs; data dir {}; {}; {} s warm-up + {} s measured per phase, {} rounds; {} client thread(s)",
        data.path().display(),
        seeded.trim().replace('\n', ", "),
        args.warmup,
        args.seconds,
        args.rounds,
        args.client_threads
    );

    let (warmup, measure) = (Duration::from_secs(args.warmup), Duration::from_secs(args.seconds));
    let mut run_id = 0;
    let mut approved = 0;
    let mut peer_checks = Vec::new();
    for &connections in &args.connections {
        let mut results: Vec<Vec<Measured>> = phases.iter().map(|_| Vec::new()).collect();
        for _ in 0..args.rounds {
            for (i, &phase) in phases.iter().enumerate() {
                run_id += 1;
                // The store peer lives for its phase only, on a store of its own: once idle, its
                // checkpointer would still be copying its log while the next phase is measured.
                let peer_dir = data.path().join(format!("store-peer-{run_id}"));
                let peer = match phase {
                    Phase::StorePeer => Some(store_peer_process(peer_addr, &peer_dir, args.accounts).await?),
                    _ => None,
                };
                let (addr, pid) = match &peer {
                    Some(peer) => (peer_addr, peer.child.id()),
                    None if phase == Phase::Floor => (floor_addr, floor.child.id()),
                    None => (cofre_addr, server.child.id()),
                };
                let target = Target { phase, addr, token: token.clone(), accounts: args.accounts, run: run_id };
                let measured = self::phase(&target, connections, warmup, measure, Some(pid)).await?;
                if let Some(peer) = peer {
                    drop(peer);
                    let db = peer_dir.join(cofre_local::EmbeddedStore::FILE_NAME);
                    peer_checks.push(store_peer::check(&db, measured.approved)?);
                } else {
                    approved += measured.approved;
                }
                results[i].push(measured);
            }
        }
        println!();
        println!("{connections} connections");
        println!(
            "{:<14}{:>10}{:>22}{:>9}{:>9}{:>9}{:>9}{:>10}{:>10}",
            "", "req/s", "rounds", "p50 ms", "p90 ms", "p99 ms", "max ms", "srv µs/r", "srv cs/r"
        );
        let summaries: Vec<Summary> = results.iter().map(|r| summarize(r)).collect();
        for (phase, s) in phases.iter().zip(&summaries) {
            let rounds: Vec<String> = s.rps_rounds.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "{:<14}{:>10.0}{:>22}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>10}{:>10}",
                phase.label(),
                s.rps,
                rounds.join("/"),
                s.p50,
                s.p90,
                s.p99,
                s.max,
                s.cpu_us.map_or("-".into(), |c| format!("{c:.0}")),
                s.switches.map_or("-".into(), |c| format!("{c:.1}")),
            );
        }
        let find = |wanted: Phase| phases.iter().position(|p| *p == wanted).map(|i| &summaries[i]);
        if let (Some(peer), Some(auth)) = (find(Phase::StorePeer), find(Phase::Authorize)) {
            println!(
                "authorize / store peer: throughput {:.3}x, p99 {:.1}x, server CPU per request {:.2}x",
                auth.rps / peer.rps,
                auth.p99 / peer.p99,
                auth.cpu_us.zip(peer.cpu_us).map_or(f64::NAN, |(a, p)| a / p)
            );
        }
        if let (Some(floor), Some(auth)) = (find(Phase::Floor), find(Phase::Authorize)) {
            println!(
                "authorize / floor: throughput {:.3}x ({:.1}x below), p50 {:.1}x, p99 {:.1}x",
                auth.rps / floor.rps,
                floor.rps / auth.rps,
                auth.p50 / floor.p50,
                auth.p99 / floor.p99
            );
        }
    }
    drop(floor);
    drop(server);
    if phases.contains(&Phase::Authorize) {
        println!();
        println!("{}", check_ledger(&data.path().join("cofre.db"), approved)?);
    }
    for check in peer_checks {
        println!("{check}");
    }
    Ok(())
}
