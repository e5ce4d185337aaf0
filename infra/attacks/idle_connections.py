#!/usr/bin/env python3
"""Idle connections against the local server under a descriptor limit (docs/operations.md#limits).

Starts `cofre-local serve` with `ulimit -n NOFILE` on a fresh data directory, opens CONNECTIONS idle
TCP connections to it (more than it can hold open), then times normal requests beside them. Prints
the figures; exits non-zero if a normal request fails or takes longer than --bound seconds.

    python3 infra/attacks/idle_connections.py                     # 1,000 connections, ulimit -n 1024
    python3 infra/attacks/idle_connections.py --connections 200 --nofile 256   # the reduced run
"""

import argparse
import http.client
import os
import resource
import select
import socket
import statistics
import sys
import tempfile
import time

import local_server


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=local_server.default_binary(), help="the cofre-local binary")
    parser.add_argument("--connections", type=int, default=1000, help="idle connections to open (default 1000)")
    parser.add_argument("--nofile", type=int, default=1024, help="the server's descriptor limit (default 1024)")
    parser.add_argument("--requests", type=int, default=5, help="normal requests to time (default 5)")
    parser.add_argument("--bound", type=float, default=2.0, help="seconds a normal request may take (default 2)")
    return parser.parse_args()


def normal_request(address, token):
    """GET /banking-auth/v1/credentials on a new connection: (status or error, seconds)."""
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection(*address, timeout=15)
        connection.request("GET", "/banking-auth/v1/credentials", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, time.monotonic() - started
    except OSError as error:
        return f"{type(error).__name__}: {error}", time.monotonic() - started


def closed_by_server(sockets):
    """How many of `sockets` the server has closed (readable with nothing to read, or reset)."""
    closed = 0
    for chunk in range(0, len(sockets), 500):
        part = sockets[chunk : chunk + 500]
        readable, _, _ = select.select(part, [], [], 0)
        for sock in readable:
            try:
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    closed += 1
            except OSError:
                closed += 1
    return closed


def main():
    args = parse_args()
    # This process holds the idle connections: it needs more descriptors than the server has.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 64
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise SystemExit(f"this shell allows {hard} descriptors; {wanted} are needed (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    with tempfile.TemporaryDirectory(prefix="cofre-attack-") as data:
        served = local_server.start(args.bin, os.path.join(data, "data"), nofile=args.nofile, rust_log="warn")
        server, address, token, cap = served.process, served.address, served.token, served.cap
        try:
            status, baseline = normal_request(address, token)
            if status != 200:
                raise SystemExit(f"the server does not answer a normal request before the attack: {status}")
            started = time.monotonic()
            idle, refused = [], 0
            for _ in range(args.connections):
                sock = socket.socket()
                sock.settimeout(5)
                try:
                    sock.connect(address)
                    idle.append(sock)
                except OSError:
                    refused += 1
                    sock.close()
            opening = time.monotonic() - started
            time.sleep(0.5)
            closed_before = closed_by_server(idle)
            results = [normal_request(address, token) for _ in range(args.requests)]
            closed_after = closed_by_server(idle)
            descriptors = len(os.listdir(f"/proc/{server.pid}/fd")) if os.path.isdir(f"/proc/{server.pid}/fd") else None
            alive = server.poll() is None
            for sock in idle:
                sock.close()
        finally:
            log = local_server.stop(server)

    latencies = [seconds for _, seconds in results]
    failures = [(status, seconds) for status, seconds in results if status != 200 or seconds > args.bound]
    print(f"idle connections: {args.connections} asked, {len(idle)} opened in {opening:.2f} s, {refused} refused")
    print(f"server: ulimit -n {args.nofile}, connection cap {cap}, {descriptors} descriptors open after the attack, "
          f"{'running' if alive else 'STOPPED'}")
    print(f"idle connections closed by the server: {closed_before} before the normal requests, {closed_after} after")
    print(f"normal request before the attack: {baseline * 1000:.1f} ms")
    print(f"normal requests during the attack: {len(results)}, statuses {[status for status, _ in results]}, "
          f"median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
          f"(bound {args.bound * 1000:.0f} ms)")
    warnings = [line for line in log.splitlines() if '"WARN"' in line or '"ERROR"' in line or "panicked" in line]
    print(f"server warnings: {len(warnings)}" + (f" (first: {warnings[0][:200]})" if warnings else ""))
    if failures or not alive:
        print(f"FAILED: {len(failures)} normal request(s) failed or were too slow: {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
