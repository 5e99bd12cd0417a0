"""Which files are measured: the app's source, never the interpreter's or a
virtualenv's, unless a source root deliberately points inside them."""

from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

from requestcov.engine.source import SourceMatcher, is_third_party


def touch(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n")
    return str(path)


def test_the_apps_own_files_are_measured_and_its_virtualenv_is_not(tmp_path: Path) -> None:
    app = tmp_path / "app"
    matcher = SourceMatcher([str(app)])
    assert matcher.measured_path(touch(app / "views.py")) == os.path.realpath(app / "views.py")
    assert matcher.measured_path(touch(app / "shop" / "models.py")) is not None
    assert matcher.measured_path(touch(app / ".venv" / "lib" / "flask" / "app.py")) is None
    assert matcher.measured_path(touch(app / "venv" / "lib" / "site-packages" / "x.py")) is None
    assert matcher.measured_path(touch(tmp_path / "elsewhere.py")) is None
    assert matcher.measured_path("<string>") is None
    assert matcher.measured_path(touch(app / "notes.txt")) is None


def test_the_standard_library_and_installed_packages_are_never_measured_from_a_wide_root() -> None:
    matcher = SourceMatcher(["/"])
    assert matcher.measured_path(os.__file__) is None
    assert matcher.measured_path(json.__file__) is None
    import click

    assert matcher.measured_path(click.__file__) is None
    assert is_third_party(click.__file__) and is_third_party(os.__file__)


def test_a_source_root_inside_site_packages_measures_that_installed_app(tmp_path: Path) -> None:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    import click

    installed_app = Path(click.__file__).parent
    assert is_third_party(click.__file__) and site_packages.exists()
    matcher = SourceMatcher([str(installed_app)])
    assert matcher.measured_path(click.__file__) == os.path.realpath(click.__file__)
    # Only that package: its neighbours stay unmeasured.
    import yaml

    assert matcher.measured_path(yaml.__file__) is None


def test_include_and_omit_patterns_work_like_coverage_pys(tmp_path: Path) -> None:
    app = tmp_path / "app"
    views, tests_file, migration = (touch(app / "views.py"), touch(app / "tests" / "test_views.py"),
                                    touch(app / "migrations" / "0001.py"))
    matcher = SourceMatcher([str(app)], omit=["*/tests/*", str(app / "migrations" / "*")])
    assert matcher.measured_path(views) is not None
    assert matcher.measured_path(tests_file) is None
    assert matcher.measured_path(migration) is None
    only_views = SourceMatcher([str(app)], include=["*/views.py"])
    assert only_views.measured_path(views) is not None and only_views.measured_path(migration) is None
