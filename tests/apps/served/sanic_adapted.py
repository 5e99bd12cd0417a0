"""The Sanic app with the one-line adapter, as a user would add it:
``sanic sanic_adapted:app`` or ``uvicorn sanic_adapted:app``."""

from requestcov.sanic import RequestCov

from sanic_server import app

RequestCov(app)
