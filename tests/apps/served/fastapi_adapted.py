"""The FastAPI app with requestcov's ASGI middleware, as a user would add it."""

import requestcov

from fastapi_server import app

app.add_middleware(requestcov.ASGIMiddleware)
