#!/usr/bin/env python3
"""Guessing `existingCredentials` against the local server (docs/api.md, proof guard).

Seeds the example fixtures into a fresh data directory, starts `cofre-local serve` on it, then sends
GUESSES wrong proofs for the seeded Stripe connection from CONCURRENCY clients at once, and finally
the right proof. Prints how many guesses were compared with what is on file (409) and how many were
refused unanswered (429), and the comparison rate; exits non-zero if more guesses were compared than
the guard allows (5 in a row, plus what one burst of concurrent first guesses can get in before the
first failure is counted) or if the right proof was let through while the connection is locked.

    python3 infra/attacks/guess_existing.py                                   # 2,000 guesses, 16 at once
    python3 infra/attacks/guess_existing.py --guesses 200 --concurrency 8     # the reduced run
"""

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time

import local_server

PATH = "/v1/merchants/mid_test_2f428vcgdf94kv6y7rjwms59hf/connection/midCon_test_stripe0000000000000000001"
RIGHT = "sk_test_seeded_old_secret"
FAILURES_BEFORE_LOCK = 5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=local_server.default_binary(), help="the cofre-local binary")
    parser.add_argument("--guesses", type=int, default=2000, help="wrong proofs to send (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients sending at once (default 16)")
    return parser.parse_args()


def patch(connection, token, existing):
    body = json.dumps({"secret": "sk_test_attacker", "existingCredentials": {"secret": existing}})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("PATCH", PATH, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status, response.getheader("Retry-After")


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="cofre-guess-") as scratch:
        data = os.path.join(scratch, "data")
        local_server.seed(args.bin, data)
        served = local_server.start(args.bin, data)
        server, address, token = served.process, served.address, served.token
        statuses, lock = [], threading.Lock()
        counter = iter(range(args.guesses))

        def client():
            connection = http.client.HTTPConnection(*address, timeout=15)
            while True:
                with lock:
                    guess = next(counter, None)
                if guess is None:
                    break
                status, _ = patch(connection, token, f"sk_test_guess_{guess:05d}")
                with lock:
                    statuses.append(status)
            connection.close()

        try:
            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            right = patch(http.client.HTTPConnection(*address, timeout=15), token, RIGHT)
            alive = server.poll() is None
        finally:
            local_server.stop(server)

    compared = statuses.count(409)
    refused = statuses.count(429)
    other = len(statuses) - compared - refused
    allowed = FAILURES_BEFORE_LOCK + args.concurrency
    print(f"{len(statuses)} wrong proofs from {args.concurrency} clients in {elapsed:.2f} s "
          f"({len(statuses) / elapsed:.0f} requests/s)")
    print(f"compared with what is on file (409): {compared}, {compared / elapsed:.1f}/s over the run "
          f"(at most {allowed} allowed: {FAILURES_BEFORE_LOCK} in a row plus one concurrent burst)")
    print(f"refused without a comparison (429): {refused}; other statuses: {other}")
    print(f"then the right proof: HTTP {right[0]}, Retry-After {right[1]} (locked: 429 expected)")
    failed = []
    if compared > allowed:
        failed.append(f"{compared} guesses compared")
    if other or not alive:
        failed.append(f"{other} unexpected statuses, server {'running' if alive else 'STOPPED'}")
    if right[0] != 429:
        failed.append("the right proof was answered while locked")
    return local_server.verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
