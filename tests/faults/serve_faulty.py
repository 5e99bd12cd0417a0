"""The Flask test app under werkzeug (or the FastAPI one under uvicorn),
recording into a store that is about to fail, or with a part of requestcov
made to raise.

``python -m tests.faults.serve_faulty PORT DB [--kind fastapi] [--fault PART]
[--fallback PATH] [--busy-timeout S] [--file-size-limit BYTES]``. The
recorder is started before the server, as the middleware would start it on
the first request, so that its writer options can be set and its parts broken
before any request (tests/support/serve.py breaks them only for WSGI apps,
whose recorder starts with the app).
"""

import argparse
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--kind", choices=["flask", "fastapi"], default="flask")
    parser.add_argument("--fault", choices=["begin", "finish", "writer"], default=None)
    parser.add_argument("db")
    parser.add_argument("--fallback", default=None)
    parser.add_argument("--busy-timeout", type=float, default=None)
    parser.add_argument("--file-size-limit", type=int, default=None,
                        help="RLIMIT_FSIZE: writing a file past this size fails, as on a full disk")
    arguments = parser.parse_args()
    from requestcov.config import Config
    from requestcov.recorder import get_recorder
    from tests.support.serve import _inject_fault

    apps_folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps")
    options = {"source": [apps_folder], "db": arguments.db}
    recorder = get_recorder(Config.resolve(**options), [])
    assert recorder is not None
    if arguments.kind == "flask":
        from tests.apps import flask_app

        app = flask_app.create_recorded_app(**options)
    else:
        from tests.apps import fastapi_app

        app = fastapi_app.create_recorded_app(**options)
    if arguments.fault:
        _inject_fault(arguments.fault)
    if arguments.fallback:
        recorder.writer.fallback_path = Path(arguments.fallback)
    if arguments.busy_timeout is not None:
        recorder.writer.busy_timeout = arguments.busy_timeout
    if arguments.file_size_limit is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (arguments.file_size_limit, arguments.file_size_limit))
    if arguments.kind == "flask":
        from werkzeug.serving import make_server

        make_server("127.0.0.1", arguments.port, app, threaded=True).serve_forever()
    else:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=arguments.port, log_level="warning")


if __name__ == "__main__":
    main()
