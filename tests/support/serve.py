"""Run a test app under a real server with requestcov recording.

Started as a subprocess by the tests: ``python -m tests.support.serve KIND PORT DB``.
A tiny switch interval makes the interpreter change threads far more often
than usual, which is what flushes out attribution races.
"""

import argparse
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["flask", "fastapi", "plain"])
    parser.add_argument("port", type=int)
    parser.add_argument("db")
    parser.add_argument("--switch-interval", type=float, default=None)
    parser.add_argument("--plain", action="store_true", help="serve without requestcov")
    parser.add_argument("--fault", choices=["begin", "finish", "writer"], default=None,
                        help="make that part of requestcov raise, to show the app is unaffected")
    parser.add_argument("--branch", action="store_true", help="record arcs too")
    parser.add_argument("--sample-rate", type=float, default=None)
    parser.add_argument("--sample", action="append", default=None, help="METHOD /pattern=rate")
    parser.add_argument("--background-thread", action="store_true",
                        help="run app code on a thread outside any request")
    arguments = parser.parse_args()
    if arguments.switch_interval:
        sys.setswitchinterval(arguments.switch_interval)
    apps_folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps")
    options = {"source": [apps_folder], "db": arguments.db, "branch": arguments.branch,
               "sample_rate": arguments.sample_rate, "sample_rules": arguments.sample}
    if arguments.fault and not arguments.plain:
        # Broken before the app is wrapped: the middleware takes the parts it
        # calls on every request (the compiled path) when it is made.
        from requestcov.config import Config
        from requestcov.recorder import get_recorder

        get_recorder(Config.resolve(**{k: v for k, v in options.items() if v is not None}), [])
        _inject_fault(arguments.fault)
    if arguments.kind == "plain":
        from werkzeug.serving import make_server

        import requestcov
        from tests.apps import plain_wsgi

        app = plain_wsgi.app if arguments.plain else requestcov.WSGIMiddleware(plain_wsgi.app, **options)
        _after_recorder_started(arguments)
        make_server("127.0.0.1", arguments.port, app, threaded=True).serve_forever()
    elif arguments.kind == "flask":
        from werkzeug.serving import make_server

        from tests.apps import flask_app

        app = flask_app.app if arguments.plain else flask_app.create_recorded_app(**options)
        _after_recorder_started(arguments)
        server = make_server("127.0.0.1", arguments.port, app, threaded=True)
        server.serve_forever()
    else:
        import uvicorn

        from tests.apps import fastapi_app

        app = fastapi_app.app if arguments.plain else fastapi_app.create_recorded_app(**options)
        _after_recorder_started(arguments)
        uvicorn.run(app, host="127.0.0.1", port=arguments.port, log_level="warning")


def _after_recorder_started(arguments):
    if arguments.background_thread:
        import threading

        from tests.apps import shop_logic

        worker = threading.Thread(target=shop_logic.price_with_tax, args=(10, "FR"))
        worker.start()
        worker.join(10)


def _inject_fault(part):
    """Break one part of the running recorder the way a bug in it would."""
    from requestcov.recorder import current_recorder

    recorder = current_recorder()

    def broken(*args, **kwargs):
        raise RuntimeError(f"injected fault in {part}")

    if part == "begin":
        recorder.begin = broken
        if recorder._path is not None:  # the compiled WSGI call begins through it directly
            recorder._path = _BeginFails(recorder._path)
    elif part == "finish":
        recorder.finish = broken
    else:
        # Whatever turns a finished request into what the store takes: its
        # row (most requests, the compiled core's) and its record.
        recorder.writer.ready_rows = broken
        recorder.writer.convert = broken


class _BeginFails:
    """The recorder's compiled request path, with a begin that raises."""

    def __init__(self, path):
        self._path = path

    def begin(self, *args):
        raise RuntimeError("injected fault in begin")

    def __getattr__(self, name):
        return getattr(self._path, name)


if __name__ == "__main__":
    main()
