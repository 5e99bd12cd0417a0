"""Read Keploy test sets: ``DIR/test-set-N/tests/*.yaml``, one HTTP test a file.

Each file is a YAML document like::

    kind: Http
    name: test-1
    spec:
      req: {method: GET, url: "http://localhost:8080/users/1", header: {...}, body: ""}
      resp: {status_code: 200, ...}

A malformed file is skipped with a warning naming it, so one bad recording
never stops a replay of hundreds of good ones.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from requestcov.errors import InputError
from requestcov.records import natural_key
from requestcov.replay.model import LoadedRequests, ReplayRequest
from requestcov.replay.target import request_base_url, request_target
from requestcov.store.keploy import yaml_error_message

__all__ = ["load_keploy_tests", "find_test_sets", "mark_last_in_each_set"]

try:  # the C loader is faster; both are safe loaders
    _SafeLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader


def find_test_sets(directory: Path) -> List[Path]:
    """The test-set folders under ``directory``, or ``directory`` itself when it
    is one test set (it holds a ``tests`` folder)."""
    if not directory.is_dir():
        raise InputError(f"{directory} is not a folder of Keploy test sets")
    if (directory / "tests").is_dir():
        return [directory]
    sets = [child for child in directory.iterdir() if (child / "tests").is_dir()]
    if not sets:
        raise InputError(f"{directory} holds no Keploy test set (expected {directory}/test-set-N/tests/*.yaml)")
    return sorted(sets, key=lambda folder: natural_key(folder.name))


def load_keploy_tests(directory: "str | Path") -> LoadedRequests:
    """Every HTTP test of every test set under ``directory``, in Keploy's order."""
    loaded = LoadedRequests()
    for test_set in find_test_sets(Path(directory)):
        files = [
            path for path in (test_set / "tests").iterdir()
            if path.suffix in (".yaml", ".yml") and path.is_file()
        ]
        for path in sorted(files, key=lambda file: natural_key(file.name)):
            try:
                request = read_keploy_test(path, test_set.name)
            except InputError as error:
                loaded.warnings.append(str(error))
                continue
            loaded.requests.append(request)
    return loaded


def mark_last_in_each_set(requests: Sequence[ReplayRequest]) -> List[ReplayRequest]:
    """``requests`` with the last one of each test set marked, as Keploy's
    replayer marks the last test case it runs of a set (the app may flush or
    report per set on it)."""
    last: Dict[str, int] = {request.test_set: index for index, request in enumerate(requests)}
    marked = set(last.values())
    return [replace(request, last_in_set=index in marked) for index, request in enumerate(requests)]


def read_keploy_test(path: Path, test_set: str) -> ReplayRequest:
    """One test file as a request. Raises :class:`InputError` naming the file when
    it is malformed or of another kind (gRPC, ...) than an HTTP replay can send."""
    try:
        with path.open("rb") as handle:
            text = handle.read()
        _check_nesting(path, text)
        document = yaml.load(text, Loader=_SafeLoader)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error}); skipped") from error
    except yaml.YAMLError as error:
        raise InputError(f"{yaml_error_message(path, error)}; skipped") from error
    except (ValueError, TypeError, RecursionError) as error:
        # The safe loader still builds dates and numbers: 2020-13-45 fails
        # there, and nesting thousands deep exhausts the stack.
        problem = "nested too deeply" if isinstance(error, RecursionError) else " ".join(str(error).split())
        raise InputError(f"{path}: not a usable YAML value ({problem[:120]}); skipped") from error
    if not isinstance(document, dict):
        raise InputError(f"{path}: not a Keploy test (expected a mapping with kind, name and spec); skipped")
    kind = str(document.get("kind", "Http"))
    if kind.lower() != "http":
        raise InputError(f"{path}: a {kind} test, only Http tests can be replayed; skipped")
    spec = document.get("spec")
    request = spec.get("req") if isinstance(spec, dict) else None
    if not isinstance(request, dict):
        raise InputError(f"{path}: no spec.req in this Keploy test; skipped")
    method = request.get("method")
    url = request.get("url")
    if not isinstance(method, str) or not method.strip() or not isinstance(url, str) or not url.strip():
        raise InputError(f"{path}: spec.req needs a method and a url; skipped")
    name = document.get("name")
    test_id = _scalar_text(name) if isinstance(name, (str, int)) and name != "" else path.stem
    response = spec.get("resp") if isinstance(spec, dict) else None
    return ReplayRequest(
        test_id=test_id,
        test_set=test_set,
        method=method.strip().upper(),
        target=_target(path, url),
        headers=_headers(path, request.get("header")),
        body=_body(path, request.get("body")),
        expected_status=_status(response.get("status_code") if isinstance(response, dict) else None),
        origin=str(path),
        base_url=request_base_url(url),
    )


#: A Keploy test is a few levels deep; far deeper input is hostile.
MAX_NESTING = 100


def _check_nesting(path: Path, text: bytes) -> None:
    """Refuse YAML nested deeper than :data:`MAX_NESTING` before building it:
    the C loader builds nested values recursively and, on Python 3.9, a file of
    100,000 ``[`` overflows the C stack and kills the process. The event
    parser reads the file without recursion."""
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                raise InputError(f"{_line_of(path, event)}: nested more than {MAX_NESTING} levels deep; skipped")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _line_of(path: Path, event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"{path}:{mark.line + 1}" if mark is not None else str(path)


def _headers(path: Path, raw: Any) -> Tuple[Tuple[str, str], ...]:
    if raw in (None, ""):
        return ()
    if not isinstance(raw, dict):
        raise InputError(f"{path}: spec.req.header must map header names to values; skipped")
    headers = []
    for name, value in raw.items():
        if not _is_scalar(name) or not _is_scalar(value):
            raise InputError(f"{path}: spec.req.header values must be single values; skipped")
        headers.append((_scalar_text(name), "" if value is None else _scalar_text(value)))
    return tuple(headers)


def _is_scalar(value: Any) -> bool:
    """Text, numbers, booleans, dates: never a list or mapping, which (built
    from YAML aliases) could print as gigabytes."""
    return not isinstance(value, (list, dict, set, tuple))


def _scalar_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _body(path: Path, raw: Any) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, bytes):
        return raw
    if not _is_scalar(raw):
        raise InputError(f"{path}: spec.req.body must be text; skipped")
    return str(raw).encode("utf-8", "surrogatepass")


def _target(path: Path, url: str) -> str:
    try:
        return request_target(url)
    except ValueError as error:  # urlsplit: "http://[::1" is not a URL
        raise InputError(f"{path}: spec.req.url {url[:60]!r} is not a URL ({error}); skipped") from error


def _status(raw: Any) -> Optional[int]:
    try:
        status = int(raw)
    except (TypeError, ValueError):
        return None
    return status if status > 0 else None
