#!/usr/bin/env python3
"""A webhook receiver for trying `cofre-local serve --webhooks` (docs/events.md): prints each event
POSTed to it with whether its Standard Webhooks signature verifies, and answers 204. Standard library
only. The secret defaults to demo-tenant's in infra/seed.example.json.

    python3 infra/webhook_receiver.py [--port 8000] [--secret whsec_…]
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parent / "seed.example.json"


def example_secret():
    hooks = json.loads(EXAMPLE.read_text()).get("webhooks", [])
    return next(h["secret"] for h in hooks if h["tenant_id"] == "demo-tenant")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--secret", default=None, help="the webhook's whsec_ secret (default: the example's)")
    args = parser.parse_args()
    key = base64.b64decode((args.secret or example_secret()).removeprefix("whsec_"))

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode() + body
            expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            given = self.headers.get("webhook-signature", "").split()
            verdict = "signature ok" if any(hmac.compare_digest(expected, s) for s in given) else "BAD SIGNATURE"
            print(f"{self.headers['webhook-id']} {verdict} {body.decode()}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    print(f"receiving on http://127.0.0.1:{args.port}/", flush=True)
    http.server.HTTPServer(("127.0.0.1", args.port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
