"""The aiohttp app with the one-line adapter, as a user would add it:
``python aiohttp_adapted.py PORT``."""

import sys

import requestcov.aiohttp
from aiohttp import web

from aiohttp_server import app

requestcov.aiohttp.setup(app)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
