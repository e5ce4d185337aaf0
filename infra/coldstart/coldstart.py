"""Cold start of Cofre's five Lambda functions, measured side by side with two floors built with the
same profile (a hello-world lambda_http function, and one that makes one DynamoDB GetItem) and a
Python peer of the second.

Each subject is started cold, as Lambda starts a custom runtime: a fresh process with a Lambda-like
environment (only its own settings, as template.yaml gives them) pointed at a fake Runtime API
(infra/coldstart/runtime_api.py), which hands it one event from events/ (the function's own, made
unique per round: its own tenant, so every round takes the same path) and takes its answer. Measured
per start: init (exec to the first GET .../next, wall), the CPU the process spent by then, the first
invocation (event handed over to answer received: wall, and the process's own CPU over that span,
from /proc/PID/task/*/schedstat), and peak resident memory (VmHWM); then the binary's size. AWS is
moto (AWS_ENDPOINT_URL), partners and processors the sandbox of `cofre-local serve`, all on loopback.
Rounds interleave the subjects; the table shows medians and ratios to the hello + DynamoDB floor.

Usage: python3 infra/coldstart/coldstart.py --endpoint http://127.0.0.1:5055 [--rounds 12]
       [--profile release|debug] [--no-build] [--compare LABEL=DIR ...] [--json FILE] [--markdown FILE]

It builds what it measures unless --no-build: the functions as `sam build` does (`cargo build
--bin X` from the workspace root, so features resolve over the whole workspace, as cargo-lambda's
do), the floors from infra/coldstart/floors (own workspace: never part of Cofre's builds; Cofre's
Cargo.lock and [profile.*] are handed to it, so versions and profile match), and cofre-local (debug)
for the sandbox and seeding. --compare adds the five functions found in DIR (e.g. a copy of an
earlier build; LABEL goes into tenant ids: letters, digits, `.`, `_`, `-`) as more subjects, so
before and after are measured in the same run. --only keeps the subjects whose label starts so;
--attach runs a profiler on each subject just before its first event (perf on the first invocation
alone), --wrap runs each subject under a command (strace, perf from exec). Last, rng-probe (built
with the floors) times aws-lc's first random fill: it shows whether the build kept CPU jitter entropy.

Exits non-zero if a subject fails to start or answers other than expected; timings never fail it.
"""

import argparse
import copy
import json
import os
import pathlib
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

sys.dont_write_bytecode = True
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from runtime_api import RuntimeApi, Run, api_gateway_answer, peak_rss_kib  # noqa: E402

FLOORS_DIR = HERE / "floors"
FLOOR = "floor-hello-dynamodb"
# The requests each function's first invocation makes, one after the other (counted with strace;
# the warm ones are asserted in tests/tests/it/round_trips.rs), and peers of the floor that read its
# item as many times per request: what those requests cost in the SDK alone, whoever makes them.
FIRST_INVOKE_REQUESTS = {
    "request-authorization": 3,  # the HMAC key's secret, BatchGetItem, TransactWriteItems
    "create-credential": 4,  # the partner settings' secret, the partner's token call, KMS, DynamoDB
    "patch-merchant-connection": 5,  # GetItem, BatchGetSecretValue, the processor, KMS, UpdateItem
    "use-credential": 7,  # Query, the partner settings' secret, TransactWriteItems, Decrypt, the
    # partner's token call, the partner call, PutItem
    "expire-holds": 4,  # a Query per shard of the due-holds index (empty here)
}
PEER_GETS = sorted(set(FIRST_INVOKE_REQUESTS.values()))


def peer_label(gets):
    return f"peer: hello + {gets} DynamoDB reads"


# Each function's settings, as template.yaml sets them (Environment.Variables).
FUNCTION_SETTINGS = {
    "create-credential": ["CREDENTIALS_TABLE", "DATA_KEY_ID", "PARTNER_CONFIG_SECRET"],
    "use-credential": ["CREDENTIALS_TABLE", "DATA_KEY_ID", "PARTNER_CONFIG_SECRET"],
    "patch-merchant-connection": ["MERCHANTS_TABLE", "DATA_KEY_ID", "PROCESSOR_CONFIG_SECRET", "HMAC_KEY_SECRET"],
    "request-authorization": ["LEDGER_TABLE", "EVENTS_TABLE", "HMAC_KEY_SECRET"],
    "expire-holds": ["LEDGER_TABLE", "EVENTS_TABLE"],
}
FUNCTIONS = list(FUNCTION_SETTINGS)
# The event each function is started with, and the status it must answer.
FUNCTION_EVENTS = {
    "create-credential": ("create-credential.created", 201),
    "use-credential": ("use-credential.transfer", 201),
    "patch-merchant-connection": ("patch-merchant-connection.rotated", 200),
    "request-authorization": ("request-authorization.approved", 200),
    # Not an HTTP function: its scheduled event gets the sweep's report (nothing is due here).
    "expire-holds": ("expire-holds.scheduled", "sweep"),
}
# Each function's Timeout, as template.yaml sets it (Globals: 15 s): Lambda hands every event that
# far a deadline, and expire-holds stops its sweep 30 s before its own.
FUNCTION_TIMEOUT_S = {"expire-holds": 300}
PROXY_PLACEHOLDER = "cfp_PLACEHOLDERPLACEHOLDERPLACEHOLDERPLACEHOLDE"


def log(message):
    print(message, file=sys.stderr, flush=True)


def sh(command, **kwargs):
    log("$ " + " ".join(str(c) for c in command))
    subprocess.run([str(c) for c in command], check=True, cwd=ROOT, **kwargs)


def target_dir():
    return pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def profile_config(profile):
    """Cofre's [profile.<profile>] as `--config` flags, so the floors build with the same profile."""
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    name = "dev" if profile == "debug" else profile
    flags = []
    for key, value in manifest.get("profile", {}).get(name, {}).items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, (int, float)):
            rendered = str(value)
        elif isinstance(value, str):
            rendered = json.dumps(value)
        else:
            sys.exit(f"[profile.{name}].{key}: a table or array; teach profile_config to pass it")
        flags += ["--config", f"profile.{name}.{key}={rendered}"]
    return flags


def build(profile):
    release = ["--release"] if profile == "release" else []
    bins = [flag for function in FUNCTIONS for flag in ("--bin", function)]
    sh(["cargo", "build", *release, *bins])
    (FLOORS_DIR / "Cargo.lock").write_bytes((ROOT / "Cargo.lock").read_bytes())
    sh(["cargo", "build", *release, "--manifest-path", FLOORS_DIR / "Cargo.toml", *profile_config(profile)])
    sh(["cargo", "build", "-p", "cofre-local"])


def wait_for_line(path, prefix, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited: {pathlib.Path(path).read_text()[-2000:]}")
        for line in pathlib.Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        time.sleep(0.05)
    sys.exit(f"no '{prefix}' line from {process.args[0]}")


def lambda_env(name, runtime_api, aws):
    """What Lambda sets for a provided.al2023 function, plus the AWS settings of the moto endpoint."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": "bootstrap",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
        "AWS_REGION": aws["AWS_REGION"],
        "AWS_DEFAULT_REGION": aws["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": aws["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": aws["AWS_SECRET_ACCESS_KEY"],
        "AWS_ENDPOINT_URL": aws["AWS_ENDPOINT_URL"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "RUST_LOG": "info",
    }


def with_tenant(event, tenant):
    event = copy.deepcopy(event)
    if "requestContext" not in event:
        return event  # a scheduled event names no tenant
    event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = tenant
    return event


class Harness:
    def __init__(self, args):
        self.args = args
        self.scratch = tempfile.TemporaryDirectory(prefix="cofre-coldstart.")
        self.dir = pathlib.Path(self.scratch.name)
        self.processes = []
        self.api = RuntimeApi("127.0.0.1", args.runtime_port)
        self.proxies = {}

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.api.close()
        self.scratch.cleanup()

    def set_up(self, tenants):
        """Sandbox, AWS resources on moto, and per-tenant fixtures (merchants, accounts)."""
        local = target_dir() / "debug" / "cofre-local"
        server_log = self.dir / "server.log"
        with open(server_log, "w") as out:
            server = subprocess.Popen(
                [local, "--data-dir", self.dir / "local", "serve", "--addr", f"127.0.0.1:{self.args.sandbox_port}"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        self.processes.append(server)
        sandbox = wait_for_line(server_log, "Partner sandbox: ", server)
        resources = subprocess.run(
            [sys.executable, ROOT / "infra" / "moto_resources.py", self.args.endpoint, sandbox],
            check=True, capture_output=True, text=True,
        ).stdout
        self.aws = dict(line.split("=", 1) for line in resources.splitlines() if "=" in line)
        self.aws["FLOOR_TABLE"] = self.floor_table()
        for gets in PEER_GETS:
            self.aws[f"FLOOR_GETS_{gets}"] = str(gets)
        seed = json.loads((ROOT / "infra" / "seed.example.json").read_text())
        fixtures = {"merchants": [], "accounts": []}
        for tenant in tenants:
            for kind in fixtures:
                for record in seed.get(kind, []):
                    fixtures[kind].append({**copy.deepcopy(record), "tenant_id": tenant})
        seed_file = self.dir / "seed.json"
        seed_file.write_text(json.dumps(fixtures))
        env = {**os.environ, **self.aws}
        seeded = subprocess.run([local, "--data-dir", self.dir / "aws", "seed", seed_file, "--backend", "aws"],
                                env=env, capture_output=True, text=True)
        if seeded.returncode != 0:
            sys.exit(f"seeding the fixtures failed: {seeded.stdout}{seeded.stderr}")

    def floor_table(self):
        import boto3

        dynamodb = boto3.session.Session(
            aws_access_key_id=self.aws["AWS_ACCESS_KEY_ID"], aws_secret_access_key=self.aws["AWS_SECRET_ACCESS_KEY"],
            region_name=self.aws["AWS_REGION"],
        ).client("dynamodb", endpoint_url=self.args.endpoint)
        name = "cofre-floor-" + os.urandom(4).hex()
        key = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
        attributes = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")]
        dynamodb.create_table(TableName=name, KeySchema=key, AttributeDefinitions=attributes,
                              BillingMode="PAY_PER_REQUEST")
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "floor"}, "sk": {"S": "floor"}, "v": {"S": "hello"}})
        return name

    def subjects(self):
        """(label, command, settings variables, function name or None, binary path or None, group).

        Each group of functions (this build's, and each --compare) has its own tenants, so every
        start takes the same path (a create, not a replace; a rotation from the seeded secret)."""
        out = target_dir() / self.args.profile
        subjects = [
            ("floor: hello", [out / "floor-hello"], [], None, out / "floor-hello", ""),
            ("floor: hello + DynamoDB", [out / FLOOR], ["FLOOR_TABLE"], None, out / FLOOR, ""),
        ]
        for gets in PEER_GETS:
            subjects.append((peer_label(gets), [out / FLOOR], ["FLOOR_TABLE", ("FLOOR_GETS", f"FLOOR_GETS_{gets}")],
                             None, out / FLOOR, ""))
        for function in FUNCTIONS:
            subjects.append((function, [out / function], FUNCTION_SETTINGS[function], function, out / function, ""))
        for label, directory in self.args.compare:
            for function in FUNCTIONS:
                binary = pathlib.Path(directory) / function
                if not binary.exists():
                    continue
                subjects.append(
                    (f"{function} ({label})", [binary], FUNCTION_SETTINGS[function], function, binary, label)
                )
        if self.args.python_peer:
            peer = [sys.executable, HERE / "python_peer.py"]
            subjects.append(("python peer (boto3)", peer, ["FLOOR_TABLE"], None, None, ""))
        if self.args.only:
            only = set(self.args.only)
            if any(o.startswith("use-credential") for o in only):
                only.add("create-credential")  # it mints the proxy use-credential is started with
            subjects = [s for s in subjects if any(s[0].startswith(o) for o in only)]
        return subjects

    def event_for(self, label, function, tenant):
        if function is None:
            return (ROOT / "events" / "request-authorization.invalid-mti.json").read_bytes(), None
        name, status = FUNCTION_EVENTS[function]
        event = with_tenant(json.loads((ROOT / "events" / f"{name}.json").read_text()), tenant)
        if function == "use-credential":
            proxy = self.proxies.get((label.replace("use-credential", "create-credential"), tenant))
            if proxy is None:
                return None, status
            event = json.loads(json.dumps(event).replace(PROXY_PLACEHOLDER, proxy))
        return json.dumps(event).encode(), status

    def cold_start(self, label, command, variables, function, tenant):
        event, expected = self.event_for(label, function, tenant)
        if event is None:
            return {"error": "no proxy: create-credential did not answer in this round"}
        name = function or "floor"
        env = lambda_env(name, self.api.address, self.aws)
        for variable in variables:  # a name, or (the name it is given, the setting's name)
            name_in_env, setting = variable if isinstance(variable, tuple) else (variable, variable)
            env[name_in_env] = self.aws[setting]
        if command[0] == sys.executable:
            env["PATH"] = f"{pathlib.Path(sys.executable).parent}:{env['PATH']}"
        run = Run([event], timeout_s=FUNCTION_TIMEOUT_S.get(function, 15))
        attached = []
        if self.args.attach:
            def attach(pid):
                command = [part.replace("{pid}", str(pid)).replace("{label}", label.replace(" ", "_"))
                           for part in self.args.attach.split()]
                attached.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                time.sleep(self.args.attach_delay)  # let it attach before the event arrives
            run.before_first_event = attach
        self.api.run = run
        output = self.dir / f"{name}.log"
        with open(output, "ab") as out:
            started = time.monotonic_ns()
            wrap = [part.replace("{label}", label.replace(" ", "_")) for part in self.args.wrap.split()]
            process = subprocess.Popen([*wrap, *(str(c) for c in command)], env=env, stdout=out, stderr=subprocess.STDOUT)
            run.pid, run.started_ns = process.pid, started
            run.spawned.set()
            finished = run.idle.wait(timeout=60)
            peak = peak_rss_kib(process.pid)
            if wrap:
                # A wrapper (perf, strace) needs to finish writing: interrupt it, as Ctrl-C would.
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            for profiler in attached:
                profiler.send_signal(signal.SIGINT)
                try:
                    profiler.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    profiler.kill()
            process.kill()
            process.wait()
        run.finished.set()
        self.api.run = None
        if not finished or run.error or run.init_done is None or run.init_done[1] is None or not run.invocations:
            tail = output.read_text(errors="replace")[-1500:]
            return {"error": f"{label}: no answer (runtime error: {run.error}); output: {tail}"}
        invocation = run.invocations[0]
        if "response" not in invocation:
            return {"error": f"{label}: no response"}
        if expected == "sweep":
            report = json.loads(invocation["response"])
            status, body = ("sweep", report) if isinstance(report, dict) and "expired" in report else (None, report)
        else:
            status, body = api_gateway_answer(invocation["response"])
        if expected is not None and status != expected:
            tail = output.read_text(errors="replace")[-800:]
            return {"error": f"{label}: answered {status}, expected {expected}: {str(body)[:300]}; output: {tail}"}
        if function == "create-credential":
            self.proxies[(label, tenant)] = body["proxy"]
        (start_wall, start_cpu), (end_wall, end_cpu) = invocation["start"], invocation["end"]
        return {
            "init_ms": (run.init_done[0] - started) / 1e6,
            "init_cpu_ms": run.init_done[1] / 1e6,
            "invoke_ms": (end_wall - start_wall) / 1e6,
            "invoke_cpu_ms": (end_cpu - start_cpu) / 1e6,
            "peak_rss_mib": peak / 1024 if peak else None,
        }


def rng_probe(profile):
    """The first and second aws-lc random fill of a fresh process (µs of CPU), medians of 5 runs."""
    probe = target_dir() / profile / "rng-probe"
    if not probe.exists():
        return None
    runs = [list(map(int, subprocess.run([probe], check=True, capture_output=True, text=True).stdout.split()))
            for _ in range(5)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(results, subjects, rounds):
    floor = results.get("floor: hello + DynamoDB", {})
    floor_size = floor.get("size")
    f = {key: median(floor.get(key, [])) for key in ("init_ms", "invoke_cpu_ms", "peak_rss_mib")}
    lines = [
        f"Medians of {rounds} cold starts per subject (interleaved); ratios to the hello + DynamoDB floor, "
        "and to the peer that makes as many requests as the function's first invocation.",
        "",
        "| subject | binary MB | init ms | init CPU ms | 1st invoke ms | 1st invoke CPU ms | peak RSS MiB "
        "| binary × floor | init − floor ms | 1st CPU × floor | RSS × floor | 1st CPU × peer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def num(value, digits=1):
        return "–" if value is None else f"{value:.{digits}f}"

    for label, _, _, function, *_ in subjects:
        r = results.get(label, {})
        requests = FIRST_INVOKE_REQUESTS.get(function)
        peer = median(results.get(peer_label(requests), {}).get("invoke_cpu_ms", [])) if requests else None
        m = {key: median(r.get(key, [])) for key in ("init_ms", "init_cpu_ms", "invoke_ms", "invoke_cpu_ms", "peak_rss_mib")}
        size = r.get("size")
        ratio = lambda a, b: None if a is None or not b else a / b  # noqa: E731
        diff = None if m["init_ms"] is None or f["init_ms"] is None else m["init_ms"] - f["init_ms"]
        lines.append(
            f"| {label} | {num(size / 1e6 if size else None, 2)} | {num(m['init_ms'])} | {num(m['init_cpu_ms'])} "
            f"| {num(m['invoke_ms'])} | {num(m['invoke_cpu_ms'])} | {num(m['peak_rss_mib'])} "
            f"| {num(ratio(size, floor_size), 2)} | {num(diff)} | {num(ratio(m['invoke_cpu_ms'], f['invoke_cpu_ms']), 2)} "
            f"| {num(ratio(m['peak_rss_mib'], f['peak_rss_mib']), 2)} | {num(ratio(m['invoke_cpu_ms'], peer), 2)} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("COFRE_TEST_AWS_ENDPOINT"), help="moto endpoint")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--profile", choices=["release", "debug"], default="release")
    parser.add_argument("--no-build", dest="build", action="store_false")
    parser.add_argument("--compare", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                        metavar="LABEL=DIR", help="also measure the five functions in DIR")
    parser.add_argument("--no-python-peer", dest="python_peer", action="store_false")
    parser.add_argument("--runtime-port", type=int, default=0, help="the fake Runtime API's port (0: any)")
    parser.add_argument("--sandbox-port", type=int, default=0, help="the sandbox server's port (0: any)")
    parser.add_argument("--attach-delay", type=float, default=0.5, help="seconds --attach is given to attach")
    parser.add_argument("--json", help="write every sample here")
    parser.add_argument("--markdown", help="write the table here")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round subject order")
    parser.add_argument("--only", action="append", default=[], metavar="LABEL",
                        help="measure only subjects whose label starts with LABEL (repeatable)")
    parser.add_argument("--wrap", default="",
                        help="command prefix for every subject, {label} replaced (e.g. 'strace -f -r -o /tmp/{label}.strace')")
    parser.add_argument("--attach", default="",
                        help="command to attach to each subject just before its first event, {pid} and {label} "
                             "replaced (e.g. 'perf record -g -o /tmp/{label}.data -p {pid}'): profiles the first "
                             "invocation alone; stopped with SIGINT when the subject is")
    args = parser.parse_args()
    if not args.endpoint:
        sys.exit("no moto endpoint: pass --endpoint or set COFRE_TEST_AWS_ENDPOINT")
    if args.build:
        build(args.profile)

    harness = Harness(args)
    failures = []
    try:
        subjects = harness.subjects()
        groups = sorted({s[5] for s in subjects})
        # Round 0 warms the page cache and is not counted.
        tenant = lambda round_index, group: "-".join(filter(None, ["coldstart", str(round_index), group]))  # noqa: E731
        harness.set_up([tenant(r, g) for r in range(args.rounds + 1) for g in groups])
        results = {s[0]: {"size": s[4].stat().st_size if s[4] else None} for s in subjects}
        order = random.Random(args.seed)
        for round_index in range(args.rounds + 1):
            # create-credential before use-credential (it mints the proxy); the rest shuffled.
            ordered = subjects[:]
            order.shuffle(ordered)
            ordered.sort(key=lambda s: s[3] == "use-credential")
            for label, command, variables, function, _, group in ordered:
                sample = harness.cold_start(label, command, variables, function, tenant(round_index, group))
                if "error" in sample:
                    failures.append(sample["error"])
                    log(f"FAIL {sample['error']}")
                    continue
                if round_index == 0:
                    continue
                for key, value in sample.items():
                    results[label].setdefault(key, []).append(value)
            log(f"round {round_index}/{args.rounds} done")
        text = table(results, subjects, args.rounds)
        probe = rng_probe(args.profile)
        if probe:
            verdict = "CPU jitter entropy in the build" if probe[0] > 1_000 else "no CPU jitter entropy"
            text += (f"\n\naws-lc first random fill in a fresh process: {probe[0]:.0f} µs of CPU, the second "
                     f"{probe[1]:.0f} µs (rng-probe, same build settings: {verdict}).")
        print(text)
        if args.markdown:
            pathlib.Path(args.markdown).write_text(text + "\n")
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        harness.close()
    if failures:
        for failure in failures[:5]:
            print(f"failed: {failure[:500]}")
        print(f"coldstart: {len(failures)} failed start(s)")
        sys.exit(1)
    print(f"coldstart: {len(subjects)} subjects, {args.rounds} rounds")


if __name__ == "__main__":
    main()
