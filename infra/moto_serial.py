"""moto_server, one request at a time.

DynamoDB applies each conditional write and each TransactWriteItems atomically. moto's in-memory
backend takes no lock, and `moto_server` serves requests on many threads, so two concurrent
conditional writes can both pass their condition: the stand-in would be weaker than the real
service, and race tests would test moto's races instead of ours. This serves moto's own WSGI
application behind one lock, which is at least as strong as DynamoDB's per-item serialization.

It serves it with waitress rather than werkzeug's development server, which answers every request
with `Connection: close`: every AWS call then opened a TCP connection of its own, which the SDK
keeps open against AWS. That made each call of a Lambda's first invocation cost a connect that
AWS would not ask for (`docs/cold-start.md`), and every test pay one per call.

It also removes most of the time moto spends in proportion to a table rather than to a request
(infra/moto_scaling.py: a copy of each table per transaction item, and a Query's sort of every item),
with the same results, so that a measurement on moto's tables of 20,000 items measures Cofre.

Usage: python3 infra/moto_serial.py HOST PORT
"""

import logging
import os
import sys
import threading

import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

import moto_scaling


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    moto_scaling.install()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Consume the whole response inside the lock: the request is over when its body is.
            return list(app(environ, start_response))

    # Connections are many (a test opens dozens at once, each SDK client keeps its own), so poll(), not
    # select(), which cannot watch a descriptor numbered 1024 or more. Requests wait in waitress's
    # queue for the lock by design: its depth warnings say nothing.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress.serve(
        serialized, host=host, port=port, threads=4, connection_limit=1000, asyncore_use_poll=True, ident=None
    )


if __name__ == "__main__":
    main()
