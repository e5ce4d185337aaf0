#!/usr/bin/env python3
"""Kill -9 the local server under load, again and again: no acknowledged write may be lost.

Seeds the example fixtures into a fresh data directory, then, KILLS times: starts `cofre-local serve`,
sends 0100 authorizations of 0.01 BRL on account 1001 from CONCURRENCY clients (each with its own
`tracking_id`), and kills the server with SIGKILL at a random moment. A last start reads everything
back. Prints the figures; exits non-zero unless every authorization the server acknowledged (200
APPROVED) reads back, every one it never answered reads back or is absent as a whole (nothing
half-written), and the account's balance is exactly its limit less what reads back: no write lost
or doubled across the kills.

    python3 infra/attacks/kill_loop.py                              # 20 kills, 8 clients
    python3 infra/attacks/kill_loop.py --kills 3 --concurrency 4    # the reduced run
"""

import argparse
import http.client
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from decimal import Decimal

import local_server

ACCOUNT, LIMIT, AMOUNT = 1001, Decimal("1000.00"), Decimal("0.01")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=local_server.default_binary(), help="the cofre-local binary")
    parser.add_argument("--kills", type=int, default=20, help="times the server is killed (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients sending at once (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    return parser.parse_args()


def request(connection, token, method, path, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def authorization(tracking_id):
    return {"mti": "0100", "amount": str(AMOUNT), "currency": "BRL", "network": "VISA", "account_id": ACCOUNT,
            "entry_mode": "01", "processing_code": "003000", "tracking_id": tracking_id}


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    acknowledged, unanswered, refused = [], [], []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="cofre-kill-") as scratch:
        data = os.path.join(scratch, "data")
        local_server.seed(args.bin, data)
        started = time.monotonic()
        for kill in range(args.kills):
            served = local_server.start(args.bin, data)
            server, address, token = served.process, served.address, served.token
            # Drain its output so it never blocks on a full pipe.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            stop = threading.Event()

            def client(number, address=address, token=token, stop=stop, kill=kill):
                sent = 0
                connection = http.client.HTTPConnection(*address, timeout=10)
                while not stop.is_set():
                    tracking = f"kill{kill:03d}-c{number:02d}-{sent:05d}"
                    sent += 1
                    try:
                        status, body = request(connection, token, "POST", "/payment-methods/v1/authorization",
                                               authorization(tracking))
                    except (OSError, http.client.HTTPException, ValueError):
                        with lock:
                            unanswered.append(tracking)
                        return
                    with lock:
                        if status == 200 and body.get("status") == "APPROVED":
                            acknowledged.append(tracking)
                        else:
                            refused.append((tracking, status))

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.concurrency)]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 1.0))
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            stop.set()
            for thread in threads:
                thread.join()
        elapsed = time.monotonic() - started

        served = local_server.start(args.bin, data)
        server, address, token = served.process, served.address, served.token
        try:
            connection = http.client.HTTPConnection(*address, timeout=10)
            lost = [t for t in acknowledged
                    if request(connection, token, "GET", f"/payment-methods/v1/authorizations/by-tracking-id/{t}")[0] != 200]
            committed_unanswered = 0
            for tracking in unanswered:
                status, _ = request(connection, token, "GET", f"/payment-methods/v1/authorizations/by-tracking-id/{tracking}")
                committed_unanswered += status == 200
            status, balance = request(connection, token, "GET", f"/payment-methods/v1/accounts/{ACCOUNT}/balance")
        finally:
            local_server.stop(server)

    posted = len(acknowledged) - len(lost) + committed_unanswered
    available = Decimal(str(balance["available"])) if status == 200 else None
    expected = LIMIT - AMOUNT * posted
    print(f"{args.kills} kills -9 of the server under {args.concurrency} clients in {elapsed:.1f} s")
    print(f"acknowledged (200 APPROVED): {len(acknowledged)}; lost after the kills: {len(lost)}")
    print(f"unanswered when the server died: {len(unanswered)}; of them committed (read back whole): "
          f"{committed_unanswered}, absent: {len(unanswered) - committed_unanswered}")
    print(f"other answers: {len(refused)} {sorted({s for _, s in refused})}")
    print(f"account {ACCOUNT}: available {available}, expected {expected} (limit {LIMIT} - {posted} x {AMOUNT})")
    failed = []
    if lost:
        failed.append(f"{len(lost)} acknowledged authorizations lost: {lost[:5]}")
    if available != expected:
        failed.append("the balance does not match what reads back")
    if refused:
        failed.append("answers other than 200 APPROVED")
    return local_server.verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
