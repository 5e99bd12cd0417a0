"""``pytest --requestcov`` options, and the settings one session records with.

Everything is resolved once, in the process pytest was started in, into
absolute paths and a test-set name: pytest-xdist's workers get that very
:class:`Settings` from the controller (``workerinput``), so every worker
writes to the same store under the same test set whatever its working
folder or environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

__all__ = ["DEFAULT_TEST_SET", "Settings", "add_options", "settings_of", "put_in_workerinput"]

#: The test set of every pytest record unless ``--requestcov-set`` names
#: another: stable from run to run, so a test recorded again is the same
#: test (its records count as one, their union), never a new duplicate.
DEFAULT_TEST_SET = "pytest"

_WORKERINPUT_KEY = "requestcov"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("requestcov", "per-test coverage with requestcov")
    group.addoption(
        "--requestcov", action="store_true", default=False,
        help="record each test's coverage (its call phase) as one record in requestcov's store",
    )
    group.addoption(
        "--requestcov-db", metavar="PATH", default=None,
        help="the store (default: ini requestcov_db, $REQUESTCOV_DB, .requestcov/requestcov.db)",
    )
    group.addoption(
        "--requestcov-source", metavar="DIR", action="append", default=None,
        help="a folder or file to measure; repeatable (default: ini requestcov_source, "
        "$REQUESTCOV_SOURCE, the rootdir)",
    )
    group.addoption(
        "--requestcov-set", metavar="NAME", default=None,
        help=f"the test set of this session's records (default: ini requestcov_set, {DEFAULT_TEST_SET!r})",
    )
    parser.addini("requestcov_db", "requestcov's store, relative to the ini file", default="")
    parser.addini("requestcov_source", "folders or files requestcov measures, relative to the ini file",
                  type="paths", default=[])
    parser.addini("requestcov_set", "the test set of the records of pytest --requestcov", default="")


@dataclass(frozen=True)
class Settings:
    db: str
    source: Tuple[str, ...]
    test_set: str

    def to_workerinput(self) -> Dict[str, Any]:
        return {"db": self.db, "source": list(self.source), "test_set": self.test_set}

    @classmethod
    def from_workerinput(cls, data: Dict[str, Any]) -> "Settings":
        return cls(db=str(data["db"]), source=tuple(str(s) for s in data["source"]), test_set=str(data["test_set"]))


def settings_of(config: pytest.Config) -> Settings:
    """The settings of this process: the controller's on an xdist worker,
    resolved from the options, the ini file and the environment elsewhere."""
    given = getattr(config, "workerinput", {}).get(_WORKERINPUT_KEY)
    if given is not None:
        return Settings.from_workerinput(given)
    return _resolve(config)


def put_in_workerinput(settings: Settings, workerinput: Dict[str, Any]) -> None:
    workerinput[_WORKERINPUT_KEY] = settings.to_workerinput()


def _resolve(config: pytest.Config) -> Settings:
    invoked_in = Path(config.invocation_params.dir)
    ini_folder = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
    return Settings(db=_db(config, invoked_in, ini_folder), source=_source(config, invoked_in),
                    test_set=_test_set(config))


def _db(config: pytest.Config, invoked_in: Path, ini_folder: Path) -> str:
    """Command line and $REQUESTCOV_DB relative to where pytest was started
    (where ``requestcov dedup`` then finds the default store too), the ini
    option relative to the ini file."""
    given: Optional[str] = config.getoption("requestcov_db")
    if given:
        return str((invoked_in / given).resolve())
    ini = str(config.getini("requestcov_db") or "").strip()
    if ini:
        return str((ini_folder / ini).resolve())
    from requestcov.store import resolve_db_path

    return str((invoked_in / resolve_db_path(None)).resolve())


def _source(config: pytest.Config, invoked_in: Path) -> Tuple[str, ...]:
    given = config.getoption("requestcov_source")
    if given:
        return tuple(str((invoked_in / folder).resolve()) for folder in given)
    ini = config.getini("requestcov_source")
    if ini:
        return tuple(str(Path(folder).resolve()) for folder in ini)
    environment = os.environ.get("REQUESTCOV_SOURCE", "")
    folders = [part for part in environment.split(os.pathsep) if part.strip()]
    if folders:
        return tuple(str((invoked_in / folder).resolve()) for folder in folders)
    return (str(Path(config.rootpath).resolve()),)


def _test_set(config: pytest.Config) -> str:
    name = config.getoption("requestcov_set") or str(config.getini("requestcov_set") or "").strip()
    name = (name or DEFAULT_TEST_SET).strip()
    if not name:
        raise pytest.UsageError("--requestcov-set needs a name")
    if any(ord(character) < 32 for character in name):
        raise pytest.UsageError("--requestcov-set: the name may not hold control characters")
    return name
