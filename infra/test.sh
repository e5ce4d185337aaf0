#!/usr/bin/env bash
# Runs every test: unit and contract tests, integration tests over real HTTP against a real
# DynamoDB/KMS/Secrets Manager API (moto's server, started here on loopback), and the template lint.
# Installs what it needs; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0
SCHEMATHESIS_VERSION=4.32.5
CARGO_LAMBDA_VERSION=1.9.2
SAM_CLI_VERSION=1.170.0
STANDARDWEBHOOKS_VERSION=1.1.0
WAITRESS_VERSION=3.0.2
TOOLS_VENV="${COFRE_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/cofre/venv}"

if ! "$PYTHON" -c "import moto.moto_server.werkzeug_app, werkzeug" >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi
# moto's own server (werkzeug's) closes every connection; infra/moto_serial.py serves it with waitress.
if ! "$PYTHON" -c "import waitress" >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "waitress==${WAITRESS_VERSION}"
fi
# infra/template_policy_check.py imports cfn-lint's YAML decoder, so it must be importable here too.
if ! command -v cfn-lint >/dev/null 2>&1 || [ "$(cfn-lint --version 2>/dev/null | awk '{print $2}')" != "$CFN_LINT_VERSION" ] \
  || ! "$PYTHON" -c "import cfnlint.decode.cfn_yaml" >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "cfn-lint==${CFN_LINT_VERSION}"
fi

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp -t cofre-moto.XXXXXX)
# moto's WSGI app, one request at a time: see infra/moto_serial.py for why.
"$PYTHON" infra/moto_serial.py 127.0.0.1 "$port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT

"$PYTHON" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/moto-api/"
for _ in range(150):
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit("moto_server did not start")
PY

export COFRE_TEST_AWS_ENDPOINT="http://127.0.0.1:${port}"
"$PYTHON" infra/moto_scaling_check.py "$COFRE_TEST_AWS_ENDPOINT"
cargo_log=$(mktemp -t cofre-tests.XXXXXX)
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log" "$cargo_log"' EXIT
cargo test --workspace --all-targets 2>&1 | tee "$cargo_log"
cfn-lint template.yaml
echo "cfn-lint: template.yaml passed"
# Least privilege, asserted by evaluating the key and IAM policies (infra/template_policy_check.py):
# who may decrypt, grant or re-key each KMS key, each role's exact actions, retention, parameters,
# every route behind the JWT authorizer; and 45 deliberate breakages that must each fail the check.
"$PYTHON" infra/template_policy_check.py template.yaml

# The API contract: openapi.yaml against the local server (the binary cargo test just built), seeded
# with the example fixtures. schemathesis generates valid and invalid requests for every operation
# and fails on any 5xx, undocumented status, response outside its schema, or invalid request accepted.
if [ ! -x "$TOOLS_VENV/bin/schemathesis" ] || [ "$("$TOOLS_VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ] \
  || ! "$TOOLS_VENV/bin/pip" show cargo-lambda 2>/dev/null | grep -q "^Version: ${CARGO_LAMBDA_VERSION}$" \
  || ! "$TOOLS_VENV/bin/pip" show aws-sam-cli 2>/dev/null | grep -q "^Version: ${SAM_CLI_VERSION}$" \
  || ! "$TOOLS_VENV/bin/pip" show standardwebhooks 2>/dev/null | grep -q "^Version: ${STANDARDWEBHOOKS_VERSION}$"; then
  "$PYTHON" -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==${SCHEMATHESIS_VERSION}" "cargo-lambda==${CARGO_LAMBDA_VERSION}" "aws-sam-cli==${SAM_CLI_VERSION}" \
    "standardwebhooks==${STANDARDWEBHOOKS_VERSION}"
fi
SAM_CLI_TELEMETRY=0 "$TOOLS_VENV/bin/sam" validate --lint
SAM_CLI_TELEMETRY=0 "$TOOLS_VENV/bin/sam" validate --region us-east-1
local_bin="${CARGO_TARGET_DIR:-target}/debug/cofre-local"
api_dir=$(mktemp -d -t cofre-api.XXXXXX)
api_port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$local_bin" --data-dir "$api_dir/data" seed infra/seed.example.json >/dev/null
"$local_bin" --data-dir "$api_dir/data" serve --addr "127.0.0.1:${api_port}" >"$api_dir/server.log" 2>&1 &
api_pid=$!
trap 'kill "$moto_pid" "$api_pid" 2>/dev/null || true; rm -rf "$moto_log" "$cargo_log" "$api_dir"' EXIT
for _ in $(seq 1 100); do
  grep -q "^Bearer token" "$api_dir/server.log" 2>/dev/null && break
  sleep 0.1
done
api_token=$(sed -n '/^Bearer token/{n;p;q}' "$api_dir/server.log")
"$TOOLS_VENV/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:${api_port}" \
  -H "Authorization: Bearer ${api_token}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples 100 --seed 1 --no-color --generation-database none
# And against the reference's own contract for the route it describes (Pismo's banking-auth OpenAPI,
# beside the project in ../shared/reference): every check in the examples and fuzzing phases. Its
# coverage phase runs without two checks that cannot hold (docs/testing.md): the reference marks the
# `account_token` header required where Cofre (and API Gateway) take `Authorization: Bearer`, and it
# documents no 401 for the requests without a token that phase sends.
reference_api=../shared/reference/pismo-banking-auth-openapi.json
[ -f "$reference_api" ] || { echo "missing $reference_api: the reference lives beside the project" >&2; exit 1; }
"$TOOLS_VENV/bin/schemathesis" run "$reference_api" --url "http://127.0.0.1:${api_port}" \
  -H "Authorization: Bearer ${api_token}" --phases examples,fuzzing \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples 100 --seed 1 --no-color --generation-database none
"$TOOLS_VENV/bin/schemathesis" run "$reference_api" --url "http://127.0.0.1:${api_port}" \
  -H "Authorization: Bearer ${api_token}" --phases coverage \
  --checks not_a_server_error,content_type_conformance,response_schema_conformance \
  --max-examples 100 --seed 1 --no-color --generation-database none

# The Lambda-level run: the five functions in `cargo lambda watch` (the Lambda runtime emulator) on
# moto, seeded through `cofre-local seed --backend aws`, partners and processors on the sandbox of the
# server above; each events/*.json invoked with `cargo lambda invoke`, status and body checked.
sandbox_url=$(sed -n 's/^Partner sandbox: //p' "$api_dir/server.log")
"$PYTHON" infra/moto_resources.py "$COFRE_TEST_AWS_ENDPOINT" "$sandbox_url" >"$api_dir/lambda.env"
(set -a; . "$api_dir/lambda.env"; set +a; "$local_bin" --data-dir "$api_dir/aws" seed infra/seed.example.json --backend aws)
PATH="$TOOLS_VENV/bin:$PATH" "$PYTHON" infra/lambda_events.py "$api_dir/lambda.env"

# ---- Cold start, reduced (infra/coldstart, docs/cold-start.md) -------------------------------------
# The cold-start harness on the debug builds, 2 rounds: the four functions, the two floors and the
# Python peer, each started cold against the harness's fake Runtime API and moto, must start and
# answer their event; the table is printed. Its figures are reported, never asserted (a debug build's
# timings say nothing about the release build's, whose figures docs/cold-start.md keeps).
"$PYTHON" infra/coldstart/coldstart.py --profile debug --rounds 2 --endpoint "$COFRE_TEST_AWS_ENDPOINT"
# ---------------------------------------------------------------------------------------------------

# ---- Idle connections, reduced (infra/attacks/idle_connections.py, docs/operations.md#limits) -------
# 200 idle connections against the local server held to 256 descriptors (so a cap of 128): normal
# requests beside them must answer 200 within 2 s; the figures are printed. The full run is 1,000
# connections under `ulimit -n 1024` (the script's defaults).
"$PYTHON" infra/attacks/idle_connections.py --bin "$local_bin" --connections 200 --nofile 256
# ---------------------------------------------------------------------------------------------------

# ---- Guessing existingCredentials, reduced (infra/attacks/guess_existing.py, docs/api.md) ---------
# 200 wrong proofs from 8 clients at once against a seeded connection: at most 5 + 8 may be compared
# with what is on file, the rest answer 429, and the right proof is refused while the lock holds. The
# full run is 2,000 proofs from 16 clients (the script's defaults).
"$PYTHON" infra/attacks/guess_existing.py --bin "$local_bin" --guesses 200 --concurrency 8
# ---------------------------------------------------------------------------------------------------

# ---- kill -9 under load, reduced (infra/attacks/kill_loop.py, docs/operations.md) ------------------
# 3 kills of the server while 4 clients authorize: every acknowledged authorization reads back, every
# unanswered one reads back whole or not at all, and the balance is the limit less what reads back.
# The full run is 20 kills under 8 clients (the script's defaults).
"$PYTHON" infra/attacks/kill_loop.py --bin "$local_bin" --kills 3 --concurrency 4
# ---------------------------------------------------------------------------------------------------

# ---- kill -9 mid-delivery of webhooks, reduced (infra/attacks/webhook_kills.py, docs/events.md) ----
# 3 kills of the server inside a receiver's request while 2 clients authorize for two tenants; the
# receivers refuse some requests, answer two too late and one is down across a kill. Every stored
# event must reach its tenant's receiver at least once, first deliveries in commit order per account,
# every signature verified by the `standardwebhooks` package (and not with the other tenant's secret),
# no secret or PAN in a payload. The full run is 10 kills under 4 clients (the script's defaults).
"$TOOLS_VENV/bin/python" infra/attacks/webhook_kills.py --bin "$local_bin" --kills 3 --concurrency 2
# ---------------------------------------------------------------------------------------------------

# The deployable artifacts: sam build (cargo-lambda, release, arm64) of all five functions, and the
# size of each bootstrap against the 10 MB goal.
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
PATH="$TOOLS_VENV/bin:$PATH" SAM_CLI_TELEMETRY=0 sam build --no-cached --build-dir "$api_dir/sam-build"
for function in CreateCredentialFunction ExpireHoldsFunction PatchMerchantConnectionFunction RequestAuthorizationFunction UseCredentialFunction; do
  size=$(stat -c %s "$api_dir/sam-build/$function/bootstrap")
  echo "bootstrap $function: $size bytes"
  [ "$size" -lt 10485760 ] || { echo "bootstrap $function is over 10 MB"; exit 1; }
done

# One closing line for the whole run (cargo's own last line is whichever binary ran last).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$cargo_log"
