"""The Lambda-level run: serves the five functions with `cargo lambda watch` (the Lambda runtime
emulator) against moto, invokes each with `cargo lambda invoke --data-file events/…`, and checks the
status code and body of every answer, in order.

The credential's life runs through the functions: create-credential.created mints a proxy; the
events that name it (PROXY_PLACEHOLDER, see infra/make_events.py) are invoked from a temporary copy
with the real proxy in its place: a transfer through the partner gateway (the sandbox partner of the
server infra/test.sh starts), the list, the audit (exactly that one use), the revoke, and the same
transfer again, now refused as not found. So does an authorization's: approved, then read back by its
tracking_id with the hold it placed on account 1001, whose balance shows it; then an authorization
advice on a blocked card beyond what 1001 has (posted, the overdraft stated), and its reversal advice.
Last, expire-holds with the scheduler's event: a sweep that finds nothing due yet.

Usage (from infra/test.sh): python3 infra/lambda_events.py ENV_FILE
The env file holds the functions' environment (infra/moto_resources.py writes it).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no infra/__pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_events import PROXY_PLACEHOLDER  # noqa: E402  (the one definition of the placeholder)

env_file = sys.argv[1]

# The proxy create-credential.created returns, for the events after it.
created = {}


def saved(body):
    created["proxy"] = body["proxy"]
    return body["message"] == "Credential saved" and body["proxy"].startswith("cfp_")


def listed(body):
    mine = [c for c in body["credentials"] if c["proxy"] == created["proxy"]]
    return (len(mine) == 1 and mine[0]["provider"] == "BTG" and mine[0]["type"] == "PIX"
            and mine[0]["provider_data"] == {"client_id": "Jk10014812"} and mine[0]["last_used_at"] is not None
            and "key" not in mine[0] and "lambda-demo-key" not in json.dumps(body))


def rule(decision, name):
    return next(r for r in decision["validation_results"] if r["name"] == name)


def one_use(body):
    uses = body["uses"]
    return (len(uses) == 1 and uses[0]["outcome"] == "ANSWERED" and uses[0]["partner_status"] == 201
            and uses[0]["method"] == "POST" and uses[0]["route"] == "/pix/v1/transfers" and body["next_cursor"] is None)


EXPECTED = [
    ("create-credential", "create-credential.created", 201, saved),
    ("use-credential", "use-credential.transfer", 201,
     lambda b: b["status"] == "PROCESSING" and b["amount"] == "10.00" and b["partner"] == "BTG"),
    ("create-credential", "create-credential.list", 200, listed),
    ("create-credential", "create-credential.uses", 200, one_use),
    ("create-credential", "create-credential.revoked", 200,
     lambda b: b == {"message": "Credential revoked", "proxy": created["proxy"]}),
    ("use-credential", "use-credential.transfer", 404, lambda b: b["code"] == "EBAA0101", "after the revoke"),
    ("use-credential", "use-credential.not-found", 404, lambda b: b["code"] == "EBAA0101"),
    ("create-credential", "create-credential.missing-fields", 400, lambda b: b["code"] == "EBAA0005"),
    ("patch-merchant-connection", "patch-merchant-connection.rotated", 200, lambda b: b["tin"] == "****6789" and b["modifiedBy"] == "API Key: Lambda Events"),
    ("patch-merchant-connection", "patch-merchant-connection.not-found", 404, lambda b: b == {"statusCode": 404, "message": "Merchant connection not found", "error": "Not Found"}),
    ("request-authorization", "request-authorization.approved", 200, lambda b: b["status"] == "APPROVED" and b["tracking_id"] == "lambda-events-1"),
    ("request-authorization", "request-authorization.invalid-mti", 400, lambda b: b["code"] == "INVALID_FIELD"),
    ("request-authorization", "request-authorization.read-back", 200, lambda b: b["status"] == "APPROVED"
     and b["held"] == 10.5 and b["history"] == [] and b["decision"]["tracking_id"] == "lambda-events-1"),
    ("request-authorization", "request-authorization.read-back-not-found", 404, lambda b: b["code"] == "AUTHORIZATION_NOT_FOUND"),
    ("request-authorization", "request-authorization.balance", 200,
     lambda b: b == {"account_id": 1001, "currency": "BRL", "limit": 1000, "available": 989.5, "held": 10.5}),
    ("request-authorization", "request-authorization.advice", 200, lambda b: b["status"] == "APPROVED"
     and b["response_code"] == "00" and b["mti"] == "0120" and rule(b, "CARD_STATUS")["reason"] == "CARD_BLOCKED"
     and rule(b, "LEDGER")["additional_data"] == {"available": "989.50", "requested": "1500.00", "forced": True,
                                                   "overdraft": "510.50"}),
    ("request-authorization", "request-authorization.reversal-advice", 200, lambda b: b["status"] == "APPROVED"
     and b["mti"] == "0420" and b["amount"] == 1500 and b["original_authorization_id"] is not None),
    # The scheduler's event: nothing is due yet (the holds above expire in 7 days), so the sweep finds none.
    ("expire-holds", "expire-holds.scheduled", 200, lambda b: b["due"] == 0 and b["expired"] == 0 and b["left"] == 0),
]

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

scratch = tempfile.TemporaryDirectory(prefix="cofre-events.")


def data_file(event):
    """events/EVENT.json, or a copy with the created proxy in place of the placeholder."""
    text = pathlib.Path(f"events/{event}.json").read_text()
    if PROXY_PLACEHOLDER not in text:
        return f"events/{event}.json"
    if "proxy" not in created:
        raise KeyError("no proxy: create-credential.created did not succeed")
    copy = pathlib.Path(scratch.name) / f"{event}.json"
    copy.write_text(text.replace(PROXY_PLACEHOLDER, created["proxy"]))
    return str(copy)


watch = subprocess.Popen(
    ["cargo", "lambda", "watch", "--invoke-port", str(port), "--ignore-changes", "--env-file", env_file],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
failed = 0
try:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    for function, event, status, check, *note in EXPECTED:
        answer = ""
        try:
            run = subprocess.run(
                ["cargo", "lambda", "invoke", function, "--invoke-port", str(port), "--data-file", data_file(event), "--output-format", "json"],
                capture_output=True, text=True, timeout=600,
            )
            answer = run.stdout + run.stderr
            parsed = json.loads(run.stdout)
            answer = parsed
            if "statusCode" in parsed:  # an HTTP function's answer
                ok = parsed["statusCode"] == status and check(json.loads(parsed["body"]))
            else:  # expire-holds answers its report (a failed sweep is an invocation error, no report)
                ok = status == 200 and check(parsed)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            ok, answer = False, answer or repr(e)
        label = f"{event} ({note[0]})" if note else event
        print(f"{'ok  ' if ok else 'FAIL'} {function} {label}: expected {status}" + ("" if ok else f", got {str(answer)[:400]}"))
        failed += not ok
    # Peak resident memory of each function process after its invocations (what Lambda bills as
    # "Max Memory Used"), to size MemorySize in template.yaml.
    for pid in os.listdir("/proc"):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
            function = os.path.basename(cmdline)
            if function in {name for name, *_ in EXPECTED}:
                peak = next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM"))
                print(f"peak memory {function}: {int(peak.split()[1]) // 1024} MiB")
        except (OSError, StopIteration, ValueError):
            continue
finally:
    watch.terminate()
    watch.wait(timeout=30)
    scratch.cleanup()
print(f"lambda: {len(EXPECTED) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
