"""Recording options, from code, the command line or the environment.

The same names everywhere: ``WSGIMiddleware(app, source=[...])``,
``requestcov run --source ...`` and ``REQUESTCOV_SOURCE``. The environment form
exists so options reach every child process of a server (workers, reloaders).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

__all__ = ["Config", "DEFAULT_ID_HEADER", "DEFAULT_TEST_SET_HEADER", "parse_sample_rule"]

DEFAULT_ID_HEADER = "KEPLOY-TEST-ID"
DEFAULT_TEST_SET_HEADER = "KEPLOY-TEST-SET-ID"

_ENVIRONMENT_NAMES = {
    "source": "REQUESTCOV_SOURCE",
    "include": "REQUESTCOV_INCLUDE",
    "omit": "REQUESTCOV_OMIT",
    "db": "REQUESTCOV_DB",
    "id_header": "REQUESTCOV_ID_HEADER",
    "test_set_header": "REQUESTCOV_TEST_SET_HEADER",
    "branch": "REQUESTCOV_BRANCH",
    "sample_rate": "REQUESTCOV_SAMPLE_RATE",
    "sample_rules": "REQUESTCOV_SAMPLE",
    "control": "REQUESTCOV_CONTROL",
    "control_remote": "REQUESTCOV_CONTROL_REMOTE",
    "fallback_db": "REQUESTCOV_FALLBACK_DB",
    "keploy_agent": "REQUESTCOV_KEPLOY_AGENT",
    "keploy_control_socket": "REQUESTCOV_KEPLOY_CONTROL_SOCKET",
    "keploy_data_socket": "REQUESTCOV_KEPLOY_DATA_SOCKET",
}

_TRUE = ("1", "true", "yes", "on")


def parse_sample_rule(text: str) -> "tuple[str, str, float]":
    """``"GET /health*=0"`` -> ``("GET", "/health*", 0.0)``; the method may be
    left out (any method). Raises ValueError with a message for people."""
    pattern, separator, rate_text = text.strip().rpartition("=")
    if not separator or not pattern.strip():
        raise ValueError(f"a sampling rule looks like 'GET /path*=0.1', not {text!r}")
    try:
        rate = float(rate_text)
    except ValueError:
        raise ValueError(f"the rate of sampling rule {text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"the rate of sampling rule {text!r} must be between 0 and 1")
    method, _, path = pattern.strip().partition(" ")
    if not path:
        method, path = "*", method
    return method.upper(), path.strip(), rate


def _split(value: str, separator: str) -> List[str]:
    return [part.strip() for part in value.split(separator) if part.strip()]


def _as_list(value: "Optional[str | Sequence[str]]") -> Optional[List[str]]:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(item) for item in value]


_CONVERSIONS: Dict[str, Callable[[Any], Any]] = {
    "source": _as_list, "include": _as_list, "omit": _as_list, "db": os.fspath, "id_header": str,
    "test_set_header": str, "branch": bool, "sample_rate": float, "sample_rules": _as_list,
    "control": bool, "control_remote": bool, "fallback_db": os.fspath,
    "keploy_agent": bool, "keploy_control_socket": os.fspath, "keploy_data_socket": os.fspath,
}


@dataclass(frozen=True)
class Config:
    #: Folders (or files) whose code is measured; None means "where the app lives".
    source: Optional[List[str]] = None
    #: fnmatch patterns a measured file must match (when given).
    include: List[str] = field(default_factory=list)
    #: fnmatch patterns of files never measured.
    omit: List[str] = field(default_factory=list)
    #: The SQLite store; None means REQUESTCOV_DB or .requestcov/requestcov.db.
    db: Optional[str] = None
    id_header: str = DEFAULT_ID_HEADER
    test_set_header: str = DEFAULT_TEST_SET_HEADER
    #: Record arcs (branch coverage) as coverage.py's --branch does.
    branch: bool = False
    #: Share of requests without a test id that is recorded (production traffic).
    sample_rate: float = 1.0
    #: Per-endpoint rates, ``"METHOD /path-pattern=rate"``; the first match wins.
    sample_rules: List[str] = field(default_factory=list)
    #: Answer POST /requestcov/test/start|end/{id} (needs REQUESTCOV_TOKEN).
    control: bool = False
    #: Let the control endpoint answer clients beyond the loopback interface.
    control_remote: bool = False
    #: Where records go when the store cannot be opened or written (read-only,
    #: full, locked, corrupt); None means recording stops in that process.
    fallback_db: Optional[str] = None
    #: Serve Keploy's coverage-agent protocol (:mod:`requestcov.keploy`).
    keploy_agent: bool = False
    #: Where Keploy sends START/END and where it listens for coverage; None
    #: means Keploy's own paths.
    keploy_control_socket: Optional[str] = None
    keploy_data_socket: Optional[str] = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, got {self.sample_rate}")
        for rule in self.sample_rules:
            parse_sample_rule(rule)

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> "Config":
        environ = os.environ if environ is None else environ
        source = environ.get(_ENVIRONMENT_NAMES["source"])
        return cls(
            source=_split(source, os.pathsep) if source else None,
            include=_split(environ.get(_ENVIRONMENT_NAMES["include"], ""), ","),
            omit=_split(environ.get(_ENVIRONMENT_NAMES["omit"], ""), ","),
            db=environ.get(_ENVIRONMENT_NAMES["db"]) or None,
            id_header=environ.get(_ENVIRONMENT_NAMES["id_header"]) or DEFAULT_ID_HEADER,
            test_set_header=environ.get(_ENVIRONMENT_NAMES["test_set_header"]) or DEFAULT_TEST_SET_HEADER,
            branch=environ.get(_ENVIRONMENT_NAMES["branch"], "").strip().lower() in _TRUE,
            sample_rate=float(environ.get(_ENVIRONMENT_NAMES["sample_rate"]) or 1.0),
            sample_rules=_split(environ.get(_ENVIRONMENT_NAMES["sample_rules"], ""), ","),
            control=environ.get(_ENVIRONMENT_NAMES["control"], "").strip().lower() in _TRUE,
            control_remote=environ.get(_ENVIRONMENT_NAMES["control_remote"], "").strip().lower() in _TRUE,
            fallback_db=environ.get(_ENVIRONMENT_NAMES["fallback_db"]) or None,
            keploy_agent=environ.get(_ENVIRONMENT_NAMES["keploy_agent"], "").strip().lower() in _TRUE,
            keploy_control_socket=environ.get(_ENVIRONMENT_NAMES["keploy_control_socket"]) or None,
            keploy_data_socket=environ.get(_ENVIRONMENT_NAMES["keploy_data_socket"]) or None,
        )

    @classmethod
    def resolve(
        cls,
        *,
        source: "Optional[str | Sequence[str]]" = None,
        include: "Optional[str | Sequence[str]]" = None,
        omit: "Optional[str | Sequence[str]]" = None,
        db: "Optional[str | os.PathLike[str]]" = None,
        id_header: Optional[str] = None,
        test_set_header: Optional[str] = None,
        branch: Optional[bool] = None,
        sample_rate: Optional[float] = None,
        sample_rules: "Optional[str | Sequence[str]]" = None,
        control: Optional[bool] = None,
        control_remote: Optional[bool] = None,
        fallback_db: "Optional[str | os.PathLike[str]]" = None,
        keploy_agent: Optional[bool] = None,
        keploy_control_socket: "Optional[str | os.PathLike[str]]" = None,
        keploy_data_socket: "Optional[str | os.PathLike[str]]" = None,
    ) -> "Config":
        """Options given in code win; the environment fills in the rest.

        The one place that names the recording options: the middleware and
        the framework adapters pass their keyword arguments straight here.
        """
        given = {
            "source": source, "include": include, "omit": omit, "db": db, "id_header": id_header,
            "test_set_header": test_set_header, "branch": branch, "sample_rate": sample_rate,
            "sample_rules": sample_rules, "control": control, "control_remote": control_remote,
            "fallback_db": fallback_db, "keploy_agent": keploy_agent,
            "keploy_control_socket": keploy_control_socket, "keploy_data_socket": keploy_data_socket,
        }
        changes = {name: _CONVERSIONS[name](value) for name, value in given.items() if value not in (None, "")}
        return replace(cls.from_environment(), **changes)

    def to_environment(self) -> Dict[str, str]:
        """Environment variables that make a child process resolve this config."""
        environ: Dict[str, str] = {
            _ENVIRONMENT_NAMES["id_header"]: self.id_header,
            _ENVIRONMENT_NAMES["test_set_header"]: self.test_set_header,
        }
        if self.source:
            environ[_ENVIRONMENT_NAMES["source"]] = os.pathsep.join(os.path.abspath(s) for s in self.source)
        if self.include:
            environ[_ENVIRONMENT_NAMES["include"]] = ",".join(self.include)
        if self.omit:
            environ[_ENVIRONMENT_NAMES["omit"]] = ",".join(self.omit)
        if self.db:
            environ[_ENVIRONMENT_NAMES["db"]] = os.path.abspath(self.db)
        if self.branch:
            environ[_ENVIRONMENT_NAMES["branch"]] = "1"
        if self.sample_rate != 1.0:
            environ[_ENVIRONMENT_NAMES["sample_rate"]] = repr(self.sample_rate)
        if self.sample_rules:
            environ[_ENVIRONMENT_NAMES["sample_rules"]] = ",".join(self.sample_rules)
        if self.control:
            environ[_ENVIRONMENT_NAMES["control"]] = "1"
        if self.control_remote:
            environ[_ENVIRONMENT_NAMES["control_remote"]] = "1"
        if self.fallback_db:
            environ[_ENVIRONMENT_NAMES["fallback_db"]] = os.path.abspath(self.fallback_db)
        if self.keploy_agent:
            environ[_ENVIRONMENT_NAMES["keploy_agent"]] = "1"
        for name in ("keploy_control_socket", "keploy_data_socket"):
            value = getattr(self, name)
            if value:
                environ[_ENVIRONMENT_NAMES[name]] = os.path.abspath(value)
        return environ
