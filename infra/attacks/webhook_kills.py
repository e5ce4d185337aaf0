#!/usr/bin/env python3
"""Kill -9 the local server while it delivers webhooks, again and again: no event may be lost.

Seeds fixtures for two tenants (two accounts each) whose `webhooks` point at receivers in this
process, then, KILLS times: starts `cofre-local serve --webhooks FIXTURES`, authorizes on the four
accounts from CONCURRENCY clients (some by card PAN), and kills the server with SIGKILL while a
receiver is in the middle of a request. The receivers answer 500 to 5% of the requests and, twice, too
late (the sender's 5 s timeout); once they are down (their port closed) across a kill and a restart.
A last start lets the deliveries finish. Every request is verified with the `standardwebhooks`
package (the webhook's secret must verify it, another tenant's must not).

Exits non-zero unless every stored event (`cofre-local events`) reached its own tenant's receiver at
least once, first deliveries came in commit order (so in order per account), no receiver got another
tenant's event, every signature verified and none verified with the wrong secret, and no payload holds
a secret or a PAN. Prints the figures: events, deliveries, duplicates, kills (mid-request), retries.

    python3 infra/attacks/webhook_kills.py                              # 10 kills, 4 clients
    python3 infra/attacks/webhook_kills.py --kills 3 --concurrency 2    # the reduced run
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import local_server

TENANTS = {
    "demo-tenant": {"accounts": [1001, 1003], "pan": "4111111111111111"},
    "tenant-b": {"accounts": [2001, 2002], "pan": "5105105105105100"},
}
# Two fresh secrets per run, never printed.
SECRETS = {tenant: "whsec_" + base64.b64encode(os.urandom(32)).decode() for tenant in TENANTS}
# Receivers answer the sender's timeout (5 s, DeliveryOptions::DEFAULT) this late, this many times.
LATE, LATE_TIMES = 5.5, 2


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=local_server.default_binary(), help="the cofre-local binary")
    parser.add_argument("--kills", type=int, default=10, help="times the server is killed (default 10)")
    parser.add_argument("--concurrency", type=int, default=4, help="clients authorizing at once (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments and the receivers' failures")
    return parser.parse_args()


def fixtures(receiver_urls):
    def account(tenant, account_id, card):
        record = {"tenant_id": tenant, "account_id": account_id, "program_id": 1,
                  "document_number": f"{account_id:011d}", "status": "NORMAL", "currency": "BRL", "limit": "100000.00"}
        if card:
            record["cards"] = [{"id": account_id * 10, "pan": TENANTS[tenant]["pan"], "stored_id": f"tok_{account_id}",
                                "status": "NORMAL", "expiry": "2030-12", "mode": "COMBO"}]
        return record

    return {
        "accounts": [account(t, a, i == 0) for t, spec in TENANTS.items() for i, a in enumerate(spec["accounts"])],
        "webhooks": [{"tenant_id": t, "url": receiver_urls[t], "secret": SECRETS[t]} for t in TENANTS],
    }


class Receivers:
    """One webhook receiver per tenant on loopback, each on its own port, that can go down and up."""

    def __init__(self, rng):
        self.rng, self.lock = rng, threading.Lock()
        self.accepted = {t: [] for t in TENANTS}    # event ids, in the order answered 2xx
        self.bodies = []
        self.requests = self.refused = self.late = self.bad_signatures = self.wrong_secret_verified = 0
        self.in_flight = 0
        self.late_left = LATE_TIMES
        self.servers = {}
        self.ports = {}
        for tenant in TENANTS:
            self.up(tenant)

    def urls(self):
        return {t: f"http://127.0.0.1:{p}/hooks/{t}" for t, p in self.ports.items()}

    def up(self, tenant):
        receivers = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                with receivers.lock:
                    receivers.in_flight += 1
                try:
                    self.receive()
                finally:
                    with receivers.lock:
                        receivers.in_flight -= 1

            def receive(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                other = next(t for t in TENANTS if t != tenant)
                try:
                    Webhook(SECRETS[tenant]).verify(body, headers)
                    signed = True
                except WebhookVerificationError:
                    signed = False
                try:
                    Webhook(SECRETS[other]).verify(body, headers)
                    wrong_verified = True
                except WebhookVerificationError:
                    wrong_verified = False
                time.sleep(0.003)  # a receiver's own work: the kills land inside requests
                draw = receivers.rng.random()
                with receivers.lock:
                    receivers.requests += 1
                    receivers.bodies.append(body.decode() + json.dumps(headers))
                    receivers.bad_signatures += not signed
                    receivers.wrong_secret_verified += wrong_verified
                    late = draw < 0.02 and receivers.late_left > 0
                    refuse = not late and draw < 0.05
                    receivers.late_left -= late
                    receivers.late += late
                    receivers.refused += refuse
                if late:
                    time.sleep(LATE)
                status = 500 if refuse else 200
                if status == 200 and not late:
                    event_id = headers.get("webhook-id")
                    with receivers.lock:
                        receivers.accepted[tenant].append((event_id, json.loads(body)))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.ports.get(tenant, 0)), Handler)
        server.daemon_threads = True
        self.ports[tenant] = server.server_address[1]
        self.servers[tenant] = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def back_up(self, tenant):
        """Up again after a while down (nothing if it is up)."""
        if tenant not in self.servers:
            time.sleep(1.0)
            self.up(tenant)

    def down(self, tenant):
        server = self.servers.pop(tenant)
        server.shutdown()
        server.server_close()

    def busy(self):
        with self.lock:
            return self.in_flight > 0


def authorize(connection, token, account, tracking, pan=None):
    body = {"mti": "0100", "amount": "0.01", "currency": "BRL", "network": "VISA", "entry_mode": "01",
            "processing_code": "003000", "tracking_id": tracking}
    if pan:
        body.update(card={"pan": pan}, mode="CREDIT")
    else:
        body["account_id"] = account
    connection.request("POST", "/payment-methods/v1/authorization", body=json.dumps(body),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def stored_events(binary, data):
    listed = subprocess.run([binary, "--data-dir", data, "events"], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in listed.stdout.splitlines()]


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    receivers = Receivers(random.Random(args.seed + 1))
    account_of = {}    # tracking_id -> (tenant, account)
    lock = threading.Lock()
    kills_mid_request = 0
    down_round = args.kills // 2
    with tempfile.TemporaryDirectory(prefix="cofre-webhook-kill-") as scratch:
        data, fixtures_file = os.path.join(scratch, "data"), os.path.join(scratch, "fixtures.json")
        with open(fixtures_file, "w") as f:
            json.dump(fixtures(receivers.urls()), f)
        local_server.seed(args.bin, data, fixtures_file)
        tokens = {t: subprocess.run([args.bin, "--data-dir", data, "token", "--tenant", t], capture_output=True,
                                    text=True, check=True).stdout.strip().splitlines()[-1] for t in TENANTS}
        serve_args = ("--webhooks", fixtures_file)
        started = time.monotonic()
        for kill in range(args.kills):
            if kill == down_round:
                receivers.down("tenant-b")   # down across this kill and the next start
            if kill == down_round + 1:
                receivers.back_up("tenant-b")
            served = local_server.start(args.bin, data, serve_args=serve_args)
            server, address = served.process, served.address
            threading.Thread(target=server.stdout.read, daemon=True).start()
            stop = threading.Event()

            def client(number, address=address, stop=stop, kill=kill):
                connection = http.client.HTTPConnection(*address, timeout=10)
                sent = 0
                while not stop.is_set():
                    tenant = list(TENANTS)[(number + sent) % len(TENANTS)]
                    account = TENANTS[tenant]["accounts"][sent % 2]
                    tracking = f"k{kill:03d}-c{number:02d}-{sent:05d}"
                    pan = TENANTS[tenant]["pan"] if account == TENANTS[tenant]["accounts"][0] and sent % 4 == 0 else None
                    with lock:
                        account_of[tracking] = (tenant, account)
                    sent += 1
                    try:
                        authorize(connection, tokens[tenant], account, tracking, pan)
                    except (OSError, http.client.HTTPException, ValueError):
                        return
                    time.sleep(0.01)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.concurrency)]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 1.2))
            # Kill inside a receiver's request when one comes within 3 s (deliveries are under way).
            deadline = time.monotonic() + 3
            while not receivers.busy() and time.monotonic() < deadline:
                time.sleep(0.001)
            kills_mid_request += receivers.busy()
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            stop.set()
            for thread in threads:
                thread.join()

        receivers.back_up("tenant-b")  # with fewer than 3 kills, it went down at the last one
        # The last start: everything stored must arrive.
        served = local_server.start(args.bin, data, serve_args=serve_args)
        threading.Thread(target=served.process.stdout.read, daemon=True).start()
        events = stored_events(args.bin, data)
        wanted = {t: [e["event_id"] for e in events if e["org_id"] == t] for t in TENANTS}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with receivers.lock:
                got = {t: {i for i, _ in receivers.accepted[t]} for t in TENANTS}
            if all(set(wanted[t]) <= got[t] for t in TENANTS):
                break
            time.sleep(0.05)
        time.sleep(0.5)  # anything still in flight lands (and would be counted as a duplicate)
        local_server.stop(served.process)
        elapsed = time.monotonic() - started

    failed = []
    with receivers.lock:
        accepted = {t: list(receivers.accepted[t]) for t in TENANTS}
        bodies = list(receivers.bodies)
    deliveries = sum(len(a) for a in accepted.values())
    duplicates = deliveries - len({i for a in accepted.values() for i, _ in a})
    for tenant in TENANTS:
        ids = [i for i, _ in accepted[tenant]]
        missing = [i for i in wanted[tenant] if i not in ids]
        if missing:
            failed.append(f"{tenant}: {len(missing)} events never delivered")
        foreign = [e["org_id"] for _, e in accepted[tenant] if e["org_id"] != tenant]
        if foreign:
            failed.append(f"{tenant}'s receiver got {len(foreign)} events of other tenants")
        first = list(dict.fromkeys(ids))
        if first != wanted[tenant][: len(first)]:
            failed.append(f"{tenant}: first deliveries out of commit order")
        # Per account: the order its events were first delivered in is the order they were committed.
        for account in TENANTS[tenant]["accounts"]:
            committed = [e["event_id"] for e in events if account_of.get(e["cid"]) == (tenant, account)]
            delivered = [i for i in first if i in set(committed)]
            if delivered != committed:
                failed.append(f"{tenant} account {account}: delivered out of order or incompletely")
    if receivers.bad_signatures:
        failed.append(f"{receivers.bad_signatures} requests whose signature did not verify")
    if receivers.wrong_secret_verified:
        failed.append(f"{receivers.wrong_secret_verified} requests verified with another tenant's secret")
    secrets = [s for s in SECRETS.values()] + [s.removeprefix("whsec_") for s in SECRETS.values()]
    pans = [spec["pan"] for spec in TENANTS.values()]
    if any(word in body for body in bodies for word in secrets + pans):
        failed.append("a secret or a PAN in a payload")
    if len(events) == 0:
        failed.append("no events were committed")

    per_account = {f"{t}/{a}": sum(1 for e in events if account_of.get(e["cid"]) == (t, a))
                   for t, spec in TENANTS.items() for a in spec["accounts"]}
    print(f"{args.kills} kills -9 of the server while it delivered webhooks, {args.concurrency} clients, {elapsed:.1f} s")
    print(f"kills inside a receiver's request: {kills_mid_request} of {args.kills}; "
          f"tenant-b's receiver down across kill {down_round + 1}")
    print(f"events stored: {len(events)} ({', '.join(f'{k}: {v}' for k, v in per_account.items())})")
    print(f"requests received: {receivers.requests}; answered 500: {receivers.refused}; answered too late: "
          f"{receivers.late}; accepted: {deliveries}; duplicates accepted: {duplicates}")
    print(f"signatures: {receivers.requests - receivers.bad_signatures} verified with the webhook's secret, "
          f"{receivers.wrong_secret_verified} with another's")
    if not failed:
        print("every event delivered at least once, in commit order per tenant and per account")
    return local_server.verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
