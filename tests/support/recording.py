"""Record requests to a WSGI app with the real recorder, in a process of
their own (the recorder is one per process), the app edited and reloaded
between requests when a test asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Sequence, Tuple, Union

__all__ = ["record_wsgi", "Get", "Edit"]

#: ("get", path, test id): one request.
Get = Tuple[str, str, str]
#: ("edit", file, new text): rewrite a file and reload every module of the app.
Edit = Tuple[str, str, str]

_SCRIPT = textwrap.dedent("""
    import importlib, json, sys
    spec = json.loads(sys.argv[1])
    sys.path[:0] = spec["paths"]
    import requestcov
    from requestcov.recorder import current_recorder
    module = importlib.import_module(spec["module"])
    wrapped = requestcov.WSGIMiddleware(module.app, source=spec["source"], db=spec["db"])
    for step in spec["steps"]:
        if step[0] == "get":
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": step[1], "HTTP_KEPLOY_TEST_ID": step[2]}
            body = wrapped(environ, lambda status, headers, exc_info=None: None)
            b"".join(body)
            body.close()
        else:
            current_recorder().writer.flush()
            with open(step[1], "w") as handle:
                handle.write(step[2])
            for name in spec["reload"]:
                importlib.reload(sys.modules[name])
            wrapped = requestcov.WSGIMiddleware(module.app, source=spec["source"], db=spec["db"])
    current_recorder().close()
""")


def record_wsgi(db: Path, module: str, paths: Sequence[Path], steps: Sequence[Union[Get, Edit]],
                reload: Sequence[str] = ()) -> None:
    """Import ``module`` (found on ``paths``, which are also what is measured),
    wrap its ``app`` in ``requestcov.WSGIMiddleware`` and run ``steps``;
    an edit reloads the modules named in ``reload`` (dependencies first)."""
    spec = {
        "paths": [str(path) for path in paths], "source": [str(path) for path in paths], "module": module,
        "db": str(db), "steps": [list(step) for step in steps], "reload": list(reload) or [module],
    }
    environment = {name: value for name, value in os.environ.items() if not name.startswith("REQUESTCOV_")}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(spec)], capture_output=True, text=True, timeout=120,
        env=environment, cwd=str(db.parent),
    )
    assert completed.returncode == 0, completed.stderr
