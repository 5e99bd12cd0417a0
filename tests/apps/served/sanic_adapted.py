"""The Sanic app with the one-line adapter, as a user would add it:
``sanic sanic_adapted:app``, ``uvicorn sanic_adapted:app`` or
``python sanic_adapted.py PORT`` (one process)."""

import sys

from requestcov.sanic import RequestCov

from sanic_server import app

RequestCov(app)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False)
