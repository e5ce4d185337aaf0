"""A fake Lambda Runtime API (2018-06-01) on loopback, for cold-start measurement.

It serves one function process at a time: `Run(events)` hands the process each event in turn on
`GET /2018-06-01/runtime/invocation/next`, takes its answers on `POST .../invocation/{id}/response`
(or `/error`, or `/init/error`), and marks each moment with the wall clock and the process's own CPU
time so far (the sum of its threads' scheduler run time, in nanoseconds, from /proc). After the last
answer, the process's next `GET .../next` marks it idle and is held open until the run ends, as
Lambda freezes an idle environment.
"""

import http.server
import json
import os
import threading
import time

PREFIX = "/2018-06-01/runtime"


def process_cpu_ns(pid):
    """CPU time used so far by every live thread of `pid` (ns), from /proc/PID/task/*/schedstat."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread exited between listdir and open
    return total


def peak_rss_kib(pid):
    """The process's peak resident set (VmHWM), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Run:
    """One process's life: the events to hand it and what happened, in order."""

    def __init__(self, events, function_arn="arn:aws:lambda:us-east-1:123456789012:function:coldstart",
                 timeout_s=15):
        self.events = list(events)
        self.function_arn = function_arn
        self.timeout_s = timeout_s      # the function's Timeout: each event's deadline is that far off
        self.pid = None
        self.started_ns = None
        self.init_done = None          # (wall_ns, cpu_ns) at the first GET next
        self.invocations = []          # per event: {"start": (wall, cpu), "end": (wall, cpu), "status", "body"}
        self.error = None              # an /init/error or /invocation/{id}/error body
        self.idle = threading.Event()  # set at the GET next after the last answer, or on an error
        self.finished = threading.Event()  # set by the harness when the process is gone
        self.before_first_event = None     # called (with the pid) just before the first event is handed over
        self.spawned = threading.Event()   # set by the harness once `pid` is known
        self._next = 0
        self._lock = threading.Lock()

    def mark(self):
        now = time.monotonic_ns()
        # A fast process can ask for its first event before the harness has noted its pid.
        self.spawned.wait(timeout=10)
        return (now, process_cpu_ns(self.pid))


class RuntimeApi:
    """The server; `run` is the process being served."""

    def __init__(self, host, port):
        api = self
        self.run = None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the process was stopped while its GET .../next was held

            def do_GET(self):
                run = api.run
                if run is None or self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404, b'{"errorMessage":"no such route"}')
                mark = run.mark()
                with run._lock:
                    if run.init_done is None:
                        run.init_done = mark
                    index = run._next
                    run._next += 1
                if index >= len(run.events):
                    run.idle.set()
                    run.finished.wait(timeout=600)
                    self.close_connection = True
                    return self._reply(410, b'{"errorMessage":"the run is over"}')
                request_id = f"coldstart-{os.getpid()}-{index}"
                if index == 0 and run.before_first_event is not None:
                    run.before_first_event(run.pid)
                    mark = run.mark()
                run.invocations.append({"id": request_id, "start": mark})
                deadline = int(time.time() * 1000) + run.timeout_s * 1000
                self._reply(
                    200,
                    run.events[index],
                    [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", request_id),
                        ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                        ("Lambda-Runtime-Invoked-Function-Arn", run.function_arn),
                        ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                    ],
                )

            def do_POST(self):
                run = api.run
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if run is None:
                    return self._reply(404, b"{}")
                mark = run.mark()
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    run.error = ("init", body.decode(errors="replace"))
                    run.idle.set()
                    return self._reply(202, b'{"status":"OK"}')
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    invocation = next((i for i in run.invocations if i["id"] == parts[1]), None)
                    if invocation is None:
                        return self._reply(400, b'{"errorMessage":"unknown request id"}')
                    invocation["end"] = mark
                    if parts[2] == "error":
                        run.error = ("invocation", body.decode(errors="replace"))
                        run.idle.set()
                    else:
                        invocation["response"] = body
                    return self._reply(202, b'{"status":"OK"}')
                return self._reply(404, b'{"errorMessage":"no such route"}')

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.address = f"{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def api_gateway_answer(body):
    """(statusCode, parsed JSON body) of an API Gateway proxy response document."""
    answer = json.loads(body)
    text = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        import base64

        text = base64.b64decode(text).decode()
    try:
        return answer.get("statusCode"), json.loads(text) if text else None
    except ValueError:
        return answer.get("statusCode"), text
