"""Starts `cofre-local serve` for an attack script and reads its start-up banner."""

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seed.example.json")


@dataclass
class Served:
    process: subprocess.Popen
    address: tuple
    token: str
    cap: int | None


def default_binary():
    return os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "cofre-local")


def seed(binary, data_dir, fixtures=SEED):
    """Loads the fixtures (the example's by default) into `data_dir` (before any server holds it)."""
    seeded = subprocess.run([binary, "--data-dir", data_dir, "seed", fixtures], capture_output=True, text=True)
    if seeded.returncode != 0:
        raise SystemExit(f"seeding failed: {seeded.stdout}{seeded.stderr}")


def start(binary, data_dir, nofile=None, rust_log="error", serve_args=()):
    """The server on a free loopback port, `ulimit -n nofile` if given, with `serve_args` added, once
    it printed its address and its bearer token (60 s at most). Its output stays on `process.stdout`:
    a caller that lets it run long must read it."""

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    process = subprocess.Popen(
        [binary, "--data-dir", data_dir, "serve", "--addr", "127.0.0.1:0", *serve_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=limit if nofile else None,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", rust_log)},
    )
    address = token = cap = None
    deadline = time.monotonic() + 60
    while token is None:
        if time.monotonic() > deadline:
            raise SystemExit("the server printed no banner within 60 s")
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the server stopped before its banner (exit {process.wait()})")
        if line.startswith("Cofre is listening on http://"):
            address = line.split()[4].removeprefix("http://")
        elif line.startswith("Limits: "):
            cap = int(line.split()[1])
        elif line.startswith("Bearer token for tenant"):
            token = process.stdout.readline().strip()
    host, port = address.rsplit(":", 1)
    return Served(process, (host, int(port)), token, cap)


def stop(process):
    """Terminates the server (kills it if it will not stop) and returns the rest of its output."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    return process.stdout.read() if process.stdout and not process.stdout.closed else ""


def verdict(failed):
    """The script's exit status: 0, or 1 with every failed check on stderr."""
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
