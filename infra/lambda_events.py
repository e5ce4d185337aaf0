"""The Lambda-level run: serves the three functions with `cargo lambda watch` (the Lambda runtime
emulator) against moto, invokes each with `cargo lambda invoke --data-file events/…`, and checks the
status code and body of every answer.

Usage (from infra/test.sh): python3 infra/lambda_events.py ENV_FILE
The env file holds the functions' environment (infra/moto_resources.py writes it).
"""

import json
import os
import socket
import subprocess
import sys
import time

env_file = sys.argv[1]

EXPECTED = [
    ("create-credential", "create-credential.created", 201, lambda b: b["message"] == "Credential saved" and b["proxy"].startswith("cfp_")),
    ("create-credential", "create-credential.missing-fields", 400, lambda b: b["code"] == "EBAA0005"),
    ("patch-merchant-connection", "patch-merchant-connection.rotated", 200, lambda b: b["tin"] == "****6789" and b["modifiedBy"] == "API Key: Lambda Events"),
    ("patch-merchant-connection", "patch-merchant-connection.not-found", 404, lambda b: b == {"statusCode": 404, "message": "Merchant connection not found", "error": "Not Found"}),
    ("request-authorization", "request-authorization.approved", 200, lambda b: b["status"] == "APPROVED" and b["tracking_id"] == "lambda-events-1"),
    ("request-authorization", "request-authorization.invalid-mti", 400, lambda b: b["code"] == "INVALID_FIELD"),
]

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

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
    for function, event, status, check in EXPECTED:
        run = subprocess.run(
            ["cargo", "lambda", "invoke", function, "--invoke-port", str(port), "--data-file", f"events/{event}.json", "--output-format", "json"],
            capture_output=True, text=True, timeout=600,
        )
        try:
            answer = json.loads(run.stdout)
            body = json.loads(answer["body"])
            ok = answer["statusCode"] == status and check(body)
        except (ValueError, KeyError, TypeError):
            ok, answer = False, run.stdout + run.stderr
        print(f"{'ok  ' if ok else 'FAIL'} {function} {event}: expected {status}" + ("" if ok else f", got {str(answer)[:400]}"))
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
print(f"lambda: {len(EXPECTED) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
