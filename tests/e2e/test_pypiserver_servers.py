"""pypiserver, an installed app that ships its own copy of Bottle
(``pypiserver/bottle_wrapper/bottle.py``), run with its own command under
``requestcov run``: Bottle's ``run()`` picks waitress, whose app is recognised
as a Bottle app by its shape, so its routes are named by the Bottle plugin.
The measured source is the installed package itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import OMIT as WAITING_HELPER
from tests.e2e.harness import SERVED, Spec, tool
from tests.support.matrix import heavy

#: Found, not imported: its copy of Bottle puts an import hook on sys.meta_path
#: that today's import machinery (and pytest's) cannot call.
PYPISERVER = importlib.util.find_spec("pypiserver")
pytestmark = [pytest.mark.slow, heavy, pytest.mark.skipif(PYPISERVER is None, reason="pypiserver is not installed")]

PACKAGES = SERVED / "pypi_packages"

SPECS = [
    # A one-line ``lambda: "Ok"``: on 3.13+ its line gets no LINE event.
    Spec("hello", "GET", "/hello", 200, "/hello"),
    Spec("simple-index", "GET", "/simple/", 200, "/simple/",
         runs=(("_app.py", "links = sorted(config.backend.get_projects())"),)),
    Spec("simple-project", "GET", "/simple/demo-pkg/", 200, "/simple/:project/",
         runs=(("_app.py", "os.path.basename(pkg.relfn)"),), skips=(("_app.py", "({normalized} does not exist"),)),
    Spec("simple-missing", "GET", "/simple/nothing/", 404, "/simple/:project/",
         runs=(("_app.py", "({normalized} does not exist"),), skips=(("_app.py", "os.path.basename(pkg.relfn)"),)),
    Spec("packages-index", "GET", "/packages/", 200, "/packages/"),
    Spec("download", "GET", "/packages/demo_pkg-1.0.tar.gz", 200, "/packages/:filename#.*#",
         runs=(("_app.py", "response = static_file("),)),
    Spec("json", "GET", "/demo-pkg/json", 200, "/:project/json",
         runs=(("_app.py", "latest_version = packages[0].version"),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "pypi-server-run": (lambda port: [tool("pypi-server"), "run", "--interface", "127.0.0.1", "--port", str(port),
                                      "--health-endpoint", "/hello", "--disable-fallback", str(PACKAGES)], 0),
}

APP_ROOT = Path(PYPISERVER.origin).resolve().parent if PYPISERVER and PYPISERVER.origin else SERVED
#: Not the copy of Bottle: it compiles each route and template on first use,
#: so a first request runs lines later ones do not.
OMIT = f"{WAITING_HELPER},*/bottle_wrapper/*"
#: A single-process server coverage.py measures alone.
ORACLE = SERVERS["pypi-server-run"][0]
