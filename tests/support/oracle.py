"""coverage.py as the oracle: the lines each request runs, measured alone.

Run as a subprocess (``python -m tests.support.oracle KIND [--branch]``) reading
a JSON list of requests on stdin and printing ``{id: {path: [lines]}}`` (with
``--branch``, ``{id: {path: [[from, to], ...]}}``): coverage.py
and requestcov must never share a process, as both install tracers.
"""

import asyncio
import json
import os
import sys

import coverage

APPS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps")


def _measure(run_request, branch=False) -> dict:
    measurement = coverage.Coverage(data_file=None, source=[APPS], config_file=False, branch=branch)
    measurement.start()
    try:
        run_request()
    finally:
        measurement.stop()
    data = measurement.get_data()
    result = {}
    for path in data.measured_files():
        executed = (data.arcs(path) if branch else data.lines(path)) or []
        if executed:
            result[os.path.realpath(path)] = sorted(list(item) if branch else item for item in executed)
    return result


def flask_runner(spec):
    from tests.apps.flask_app import app

    client = app.test_client()

    def run():
        response = client.open(spec["path"], method=spec["method"], json=spec.get("json"))
        response.get_data()  # a streamed body runs only as it is read
        response.close()

    return run


def fastapi_runner(spec):
    import httpx

    from tests.apps.fastapi_app import app

    async def call():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.request(spec["method"], spec["path"], json=spec.get("json"))

    return lambda: asyncio.run(call())


def main() -> None:
    kind = sys.argv[1]
    branch = "--branch" in sys.argv[2:]
    specs = json.load(sys.stdin)
    runner = {"flask": flask_runner, "fastapi": fastapi_runner}[kind]
    # Import the app before measuring, as the server did before its first
    # request; the requests themselves run once each, in order, as they did
    # against the server, so state such as caches evolves the same way.
    runs = [(spec["id"], runner(spec)) for spec in specs]
    print(json.dumps({test_id: _measure(run, branch) for test_id, run in runs}))


if __name__ == "__main__":
    main()
