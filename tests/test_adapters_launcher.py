"""``requestcov run`` without a server: what reaches the child process, exit
codes, the hidden ``sitecustomize``, and the adapters never wrapping twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

from requestcov.launcher import ACTIVE_VARIABLE, bootstrap_directory

REPOSITORY = Path(__file__).resolve().parents[1]


def _environment(**extra: str) -> dict:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REQUESTCOV_")}
    environment.pop("PYTHONPATH", None)
    environment.update(extra)
    return environment


def run(arguments: List[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "requestcov.cli", "run", *arguments], cwd=str(cwd), capture_output=True,
        text=True, timeout=120, env=_environment(**extra),
    )


def python_printing(code: str) -> List[str]:
    return ["--", sys.executable, "-c", textwrap.dedent(code)]


def test_options_reach_the_server_through_the_environment(tmp_path: Path) -> None:
    completed = run(
        ["--db", "store/r.db", "--source", "app", "--omit", "*/a.py,*/b.py", "--include", "*/app/*",
         "--id-header", "X-Test", *python_printing("""
            import json, os, sys, sitecustomize
            from requestcov.recorder import current_recorder
            recorder = current_recorder()
            print(json.dumps({
                "environment": {key: value for key, value in os.environ.items() if key.startswith("REQUESTCOV_")},
                "path": os.environ["PYTHONPATH"].split(os.pathsep)[0],
                "sitecustomize": sitecustomize.__file__,
                "source": recorder.source if recorder else None,
            }))
        """)],
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    environment = seen["environment"]
    assert environment[ACTIVE_VARIABLE] == "1"
    assert environment["REQUESTCOV_DB"] == str((tmp_path / "store" / "r.db").resolve())
    assert environment["REQUESTCOV_SOURCE"] == str(tmp_path / "app")
    assert environment["REQUESTCOV_OMIT"] == "*/a.py,*/b.py"
    assert environment["REQUESTCOV_INCLUDE"] == "*/app/*"
    assert environment["REQUESTCOV_ID_HEADER"] == "X-Test"
    assert seen["path"] == bootstrap_directory()
    assert Path(seen["sitecustomize"]).parent == Path(bootstrap_directory())
    # The recorder started at interpreter start, before any app code ran.
    assert seen["source"] == [str(tmp_path / "app")]
    assert "requestcov: recording" in completed.stderr


def test_source_defaults_to_the_current_folder(tmp_path: Path) -> None:
    completed = run(python_printing("import os; print(os.environ['REQUESTCOV_SOURCE'])"), tmp_path)
    assert completed.stdout.strip() == str(tmp_path)


def test_exit_code_passes_through(tmp_path: Path) -> None:
    assert run(python_printing("import sys; sys.exit(7)"), tmp_path).returncode == 7


def test_a_missing_command_exits_127(tmp_path: Path) -> None:
    completed = run(["--", "no-such-server-command-anywhere"], tmp_path)
    assert completed.returncode == 127
    assert "cannot run no-such-server-command-anywhere" in completed.stderr


def test_the_sitecustomize_it_hides_still_runs(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import builtins\nbuiltins.OWN_SITECUSTOMIZE_RAN = True\n")
    completed = run(
        python_printing("import builtins; print(getattr(builtins, 'OWN_SITECUSTOMIZE_RAN', False))"),
        tmp_path, PYTHONPATH=str(own),
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "True"


def test_recording_stays_off_without_the_launcher_marker(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; print('requestcov.recorder' in sys.modules)"], capture_output=True,
        text=True, timeout=60, env=_environment(PYTHONPATH=bootstrap_directory()),
    )
    assert completed.stdout.strip() == "False"


def test_adapters_never_wrap_twice(tmp_path: Path) -> None:
    """RequestCov twice, then the launcher's wrapping on top: one middleware."""
    script = f"""
        import json, sys
        sys.path.insert(0, {str(REPOSITORY / "tests" / "apps" / "served")!r})
        from flask_server import app
        from requestcov.flask import RequestCov
        from requestcov.launcher.wrapping import wrap_wsgi
        from requestcov.middleware import WSGIMiddleware
        RequestCov(app)
        first = app.wsgi_app
        RequestCov().init_app(app)
        served = wrap_wsgi(app)
        again = wrap_wsgi(WSGIMiddleware(lambda environ, start_response: []))
        print(json.dumps({{
            "same_middleware": app.wsgi_app is first,
            "inner_is_flask": not isinstance(first.app, WSGIMiddleware),
            "served_unchanged": served is app,
            "middleware_unchanged": isinstance(again, WSGIMiddleware) and not isinstance(again.app, WSGIMiddleware),
            "source": first.recorder.source,
        }}))
    """
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120,
        cwd=str(tmp_path), env=_environment(REQUESTCOV_DB=str(tmp_path / "r.db")),
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result.pop("source") == [str(REPOSITORY / "tests" / "apps" / "served")]
    assert all(result.values()), result
