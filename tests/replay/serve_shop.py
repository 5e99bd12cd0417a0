"""``python -m tests.replay.serve_shop DB``: serve the replay test app on a free
port of 127.0.0.1, recorded into DB, and print the port once it listens.

A process of its own, because requestcov keeps one recorder per process."""

import os
import sys

from werkzeug.serving import make_server

import requestcov
from tests.replay.app import shop


def main() -> None:
    source = os.path.dirname(os.path.abspath(shop.__file__))
    recorded = requestcov.WSGIMiddleware(shop.app, source=[source], db=sys.argv[1])
    server = make_server("127.0.0.1", 0, recorded, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
