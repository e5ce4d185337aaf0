#!/usr/bin/env bash
# Runs every test: unit and contract tests, integration tests over real HTTP against a real
# DynamoDB/KMS/Secrets Manager API (moto's server, started here on loopback), and the template lint.
# Installs what it needs; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0

if ! "$PYTHON" -c "import moto.moto_server.werkzeug_app, werkzeug" >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi
if ! command -v cfn-lint >/dev/null 2>&1 || [ "$(cfn-lint --version 2>/dev/null | awk '{print $2}')" != "$CFN_LINT_VERSION" ]; then
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
cargo_log=$(mktemp -t cofre-tests.XXXXXX)
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log" "$cargo_log"' EXIT
cargo test --workspace --all-targets 2>&1 | tee "$cargo_log"
cfn-lint template.yaml
echo "cfn-lint: template.yaml passed"

# One closing line for the whole run (cargo's own last line is whichever binary ran last).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$cargo_log"
