"""The Flask test app under werkzeug, recording into a store that is about to fail.

``python -m tests.faults.serve_faulty PORT DB [--fallback PATH] [--busy-timeout S]
[--file-size-limit BYTES]``. The writer options are set on the running
recorder before the first request, which is when the writer opens the store.
"""

import argparse
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("db")
    parser.add_argument("--fallback", default=None)
    parser.add_argument("--busy-timeout", type=float, default=None)
    parser.add_argument("--file-size-limit", type=int, default=None,
                        help="RLIMIT_FSIZE: writing a file past this size fails, as on a full disk")
    arguments = parser.parse_args()
    from werkzeug.serving import make_server

    from requestcov.recorder import current_recorder
    from tests.apps import flask_app

    apps_folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps")
    app = flask_app.create_recorded_app(source=[apps_folder], db=arguments.db)
    recorder = current_recorder()
    assert recorder is not None
    if arguments.fallback:
        recorder.writer.fallback_path = Path(arguments.fallback)
    if arguments.busy_timeout is not None:
        recorder.writer.busy_timeout = arguments.busy_timeout
    if arguments.file_size_limit is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (arguments.file_size_limit, arguments.file_size_limit))
    make_server("127.0.0.1", arguments.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
