"""The aiohttp or Tornado served app (tests/apps/served) with its one-line
adapter and a part of requestcov made to raise, or without requestcov.

``python -m tests.faults.serve_framework_faulty KIND PORT DB [--fault PART] [--plain]``
"""

import argparse
import sys
from pathlib import Path

SERVED = Path(__file__).resolve().parents[1] / "apps" / "served"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["aiohttp", "tornado"])
    parser.add_argument("port", type=int)
    parser.add_argument("db")
    parser.add_argument("--fault", choices=["begin", "finish", "writer"], default=None)
    parser.add_argument("--plain", action="store_true", help="serve without requestcov")
    arguments = parser.parse_args()
    sys.path.insert(0, str(SERVED))
    options = {"source": [str(SERVED)], "db": arguments.db}
    from tests.support.serve import _inject_fault

    if arguments.kind == "aiohttp":
        from aiohttp import web

        import aiohttp_server
        import requestcov.aiohttp

        if not arguments.plain:
            requestcov.aiohttp.setup(aiohttp_server.app, **options)
        if arguments.fault:
            _inject_fault(arguments.fault)
        web.run_app(aiohttp_server.app, host="127.0.0.1", port=arguments.port, print=None)
    else:
        import requestcov.tornado
        import tornado_server

        app = tornado_server.make_app()
        if not arguments.plain:
            requestcov.tornado.record(app, **options)
        if arguments.fault:
            _inject_fault(arguments.fault)
        tornado_server.main(app, ["tornado_server.py", str(arguments.port)])


if __name__ == "__main__":
    main()
