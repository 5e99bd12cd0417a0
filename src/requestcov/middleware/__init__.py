"""WSGI and ASGI middleware that record each request's coverage."""

from requestcov.middleware.asgi import ASGIMiddleware
from requestcov.middleware.wsgi import WSGIMiddleware

__all__ = ["WSGIMiddleware", "ASGIMiddleware"]
