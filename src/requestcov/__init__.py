"""requestcov: code coverage for every request a Python web server handles.

Add the middleware (or run the server under ``requestcov run``), send traffic,
then ask ``requestcov`` which tests are duplicates, which code no request
reaches, which paths the frequent requests take, and what a change affects.
"""

from requestcov.config import Config
from requestcov.middleware import ASGIMiddleware, WSGIMiddleware
from requestcov.records import RequestRecord, TestKey
from requestcov.recorder import set_route

__version__ = "0.1.0"

__all__ = [
    "ASGIMiddleware",
    "WSGIMiddleware",
    "Config",
    "RequestRecord",
    "TestKey",
    "set_route",
    "__version__",
]
