"""Pieces every command shares: where records come from, ``--json``, and
turning requestcov's errors into one clean line instead of a traceback.

Reading commands open the store read-only (see ``requestcov.store.readonly``):
they never create, migrate or otherwise change a file. A ``--db`` that is not
a store (missing, empty, something else) is a wrong argument, exit code 2; a
store with no requests says so instead of reporting on nothing."""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, List, NoReturn, Optional, Sequence, Set, TypeVar

import click
from rich.console import Console

from requestcov.errors import RequestcovError
from requestcov.records import KeyedRecord, RequestRecord

__all__ = [
    "records_source_options",
    "db_option",
    "reports_errors",
    "json_option",
    "load_or_fail",
    "load_index_or_fail",
    "load_keyed_records",
    "bulk_reading",
    "StderrProgress",
    "reading_progress",
    "is_terminal",
    "load_startup_lines",
    "recorded_versions_current",
    "fail",
    "fail_if_empty",
    "user_errors",
    "print_json",
    "console",
    "output_width",
    "natural_tests",
    "warn",
    "warn_if_served_unrecorded",
    "warn_changed_files",
    "display_path",
]

#: A pass over records on their way into an analysis (see ``analysis.versions``).
RecordsFilter = Callable[[Iterable[RequestRecord]], Iterable[RequestRecord]]
#: The same over (line-set key, record) pairs.
KeyedFilter = Callable[[Iterable[KeyedRecord]], Iterable[KeyedRecord]]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def db_option(function: F) -> F:
    """Add ``--db`` (or ``REQUESTCOV_DB``); the command receives it as ``db``."""
    return click.option(
        "--db", type=click.Path(dir_okay=False, path_type=str), envvar="REQUESTCOV_DB", default=None,
        show_envvar=True, help="The requestcov store [default: .requestcov/requestcov.db].",
    )(function)


def records_source_options(function: F) -> F:
    """Add ``--db`` (or ``REQUESTCOV_DB``) and ``--from FILE`` (a Keploy
    ``dedupData.yaml``); the command receives them as ``db`` and ``from_file``."""
    function = click.option(
        "--from", "from_file", type=click.Path(dir_okay=False, path_type=str), default=None,
        help="Read a Keploy dedupData.yaml instead of the store.",
    )(function)
    return db_option(function)


def json_option(function: F) -> F:
    """Add ``--json``; the command receives it as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(function)


class _NotAStore(click.ClickException):
    """``Error: <message>`` like any other, with the exit code of a wrong argument."""

    exit_code = 2


def fail(message: str) -> NoReturn:
    """Stop the command: ``Error: <message>`` on stderr, exit code 1."""
    raise click.ClickException(message)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`RequestcovError` raised inside the block into :func:`fail`
    (exit code 2 when the file named as the store is not one)."""
    try:
        yield
    except RequestcovError as error:
        from requestcov.store.readonly import NotAStoreError  # the store package loads only when used

        if isinstance(error, NotAStoreError):
            raise _NotAStore(str(error)) from error
        fail(str(error))


def _source(db: Optional[str], from_file: Optional[str]) -> str:
    from requestcov.store import resolve_db_path

    return str(from_file) if from_file is not None else str(resolve_db_path(db))


def fail_if_empty(count: int, db: Optional[str], from_file: Optional[str] = None) -> None:
    """Stop when there is nothing to report on: "100.0% of 0 statements"
    or an empty table would read as an answer."""
    if count == 0:
        fail(f"no requests recorded in {_source(db, from_file)}")


def load_or_fail(db: Optional[str], from_file: Optional[str],
                 through: Optional[RecordsFilter] = None) -> List[RequestRecord]:
    """All request records from the chosen source (passed ``through`` a
    filter when given), or a clean error."""
    from requestcov.store import load_records

    with user_errors():
        loaded = load_records(db, from_file)
        records = list(through(loaded) if through is not None else loaded)
    fail_if_empty(len(records), db, from_file)
    return records


class StderrProgress:
    """What a long command is doing, as one line rewritten in place on
    stderr, and only when stderr is a terminal: a pipe, a file or a test
    sees nothing, and stdout (``--json``) is never touched."""

    #: Seconds between two rewrites of the line.
    INTERVAL = 0.25

    def __init__(self, command: str) -> None:
        self.command = command
        self.interactive = is_terminal(sys.stderr)
        self._next = time.monotonic() + self.INTERVAL
        self._shown = False

    def say(self, message: str) -> None:
        if self.interactive:
            sys.stderr.write(f"\r\x1b[K{self.command}: {message}")
            sys.stderr.flush()
            self._shown = True

    def counting(self, records: Iterable[T], what: str = "reading requests") -> Iterator[T]:
        """``records`` (or (key, record) pairs) as they come, the count read so far shown now and then."""
        if not self.interactive:
            yield from records
            return
        count = 0
        for record in records:
            count += 1
            if not count & 1023 and time.monotonic() >= self._next:
                self.say(f"{what}: {count:,}")
                self._next = time.monotonic() + self.INTERVAL
            yield record
        if count:
            self.say(f"{what}: {count:,}")

    def done(self) -> None:
        """Clear the line, so the command's own output starts on a clean one."""
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


@contextmanager
def reading_progress(command: Optional[str] = None) -> Iterator[StderrProgress]:
    """A :class:`StderrProgress` for the block, cleared when it ends."""
    if command is None:
        context = click.get_current_context(silent=True)
        command = context.info_name if context is not None and context.info_name else "requestcov"
    progress = StderrProgress(command)
    try:
        yield progress
    finally:
        progress.done()


def load_keyed_records(db: Optional[str], from_file: Optional[str]) -> Iterator[KeyedRecord]:
    """(line-set key, record) pairs from the chosen source: a store hands
    out each distinct line set once, shared by the records that ran it
    (:meth:`~requestcov.store.SQLiteStore.iter_keyed_records`: the caller
    must not change their lines); a ``dedupData.yaml`` (and a store of an
    older schema) keys nothing, None for every record."""
    if from_file is not None:
        from requestcov.store import read_dedup_yaml

        for record in read_dedup_yaml(from_file):
            yield None, record
        return
    from requestcov.store import SQLiteStore, resolve_db_path

    with SQLiteStore(resolve_db_path(db), read_only=True) as store:
        yield from store.iter_keyed_records()


@contextmanager
def bulk_reading() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a store is read:
    reading allocates millions of small lists and dicts, none of them in a
    cycle, and the collector scanned the growing heap again and again (a
    third of the reading time). Turned back on (when it was on) afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_index_or_fail(db: Optional[str], from_file: Optional[str], *, fold: bool = True,
                       through: Optional[KeyedFilter] = None, progress: bool = True) -> Any:
    """The records as a compact :class:`~requestcov.analysis.index.CoverageIndex`,
    read one record at a time so large stores never sit in memory as lists,
    each distinct line set folded and indexed once (each (key, record) pair
    passed ``through`` a filter when given: it must not change a record's
    lines in place, see :meth:`~requestcov.analysis.versions.RecordedVersions.current_only_keyed`).

    With ``fold`` (the default) each test's lines are the statements it
    covered, counted as every report counts them
    (:mod:`requestcov.analysis.covered`); ``fold=False`` keeps the lines as
    recorded, for analyses that map them through a diff.

    ``progress``: say on stderr, when it is a terminal, how many requests
    have been read (False when the command shows progress its own way)."""
    from requestcov.analysis.covered import StatementTable
    from requestcov.analysis.index import build_keyed_index

    with user_errors(), reading_progress() as shown, bulk_reading():
        index = None if through is not None or from_file is not None else _store_index(
            db, StatementTable() if fold else None, shown if progress else None)
        if index is None:
            loaded: Iterable[KeyedRecord] = load_keyed_records(db, from_file)
            if progress:
                loaded = shown.counting(loaded)
            if through is not None:
                loaded = through(loaded)
            index = build_keyed_index(loaded, StatementTable() if fold else None)
    fail_if_empty(len(index), db, from_file)
    return index


def _store_index(db: Optional[str], table: Any, shown: Optional[StderrProgress]) -> Any:
    """:func:`load_index_or_fail`'s index read from the store's rows and
    packed line sets (:func:`~requestcov.analysis.index.build_store_index`),
    with no record made; None when the store keeps no line sets (an older
    schema) or has arcs, which records carry."""
    from requestcov.analysis.index import build_store_index
    from requestcov.store import SQLiteStore, resolve_db_path

    with SQLiteStore(resolve_db_path(db), read_only=True) as store:
        rows = store.request_rows()
        line_sets = store.keyed_line_numbers()
        if rows is None or line_sets is None or store.has_arcs():
            return None
        return build_store_index(rows if shown is None else shown.counting(rows), line_sets, table)


#: Width of the output when it goes to no terminal and ``COLUMNS`` is unset:
#: a file or a pipe reads like a wide terminal; tables fold beyond it.
PIPE_WIDTH = 160


def output_width() -> Optional[int]:
    """The one width policy of every command's output: ``COLUMNS`` when set,
    else the terminal's own width (None: rich asks the terminal), else
    :data:`PIPE_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if is_terminal(sys.stdout) else PIPE_WIDTH


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal; False for one replaced by something
    without a descriptor (a test's capture, a StringIO)."""
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def recorded_versions_current(db: Optional[str], versions: Any) -> bool:
    """Whether every file version the store holds is the file as it is now
    (:meth:`~requestcov.analysis.versions.RecordedVersions.is_current`):
    then :meth:`~requestcov.analysis.versions.RecordedVersions.current_only_keyed`
    would leave every record as it is, and name no file as changed."""
    from requestcov.store import SQLiteStore, resolve_db_path

    with user_errors(), SQLiteStore(resolve_db_path(db), read_only=True) as store:
        return all(versions.is_current(path, version) for path, version in store.recorded_versions())


def load_startup_lines(db: Optional[str], from_file: Optional[str],
                       through: Optional[RecordsFilter] = None) -> Dict[str, List[int]]:
    """Lines the store's start-up records ran (imports, ``def`` lines, module
    constants), merged across processes (each record passed ``through`` a
    filter when given); ``served-unrecorded`` code (run for requests nobody
    recorded) is left out, since nothing counts it as run. A
    ``dedupData.yaml`` holds no start-up records: empty."""
    if from_file is not None:
        return {}
    from requestcov.records import SERVED_UNRECORDED, STARTUP
    from requestcov.store import SQLiteStore, resolve_db_path

    lines: Dict[str, Set[int]] = {}
    with user_errors(), SQLiteStore(resolve_db_path(db), read_only=True) as store:
        startup: Iterable[RequestRecord] = store.iter_records((STARTUP,))
        for record in through(startup) if through is not None else startup:
            if record.test_id == SERVED_UNRECORDED:
                continue
            for path, numbers in record.lines.items():
                lines.setdefault(path, set()).update(numbers)
    return {path: sorted(numbers) for path, numbers in lines.items()}


def console() -> Console:
    """The console every command prints its tables and lines to (stdout),
    as wide as :func:`output_width` says."""
    return Console(soft_wrap=False, width=output_width())


def natural_tests(index: Any, tests: Iterable[int]) -> List[int]:
    """Index test numbers in the natural order of their ids (test-2 before
    test-10): the order every listing of tests uses."""
    natural = index.natural_keys()
    return sorted(tests, key=lambda test: (natural[test], test))


def display_path(path: str) -> str:
    """A path as people want to read it: relative when under the current folder."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def warn_changed_files(changed: Sequence[Any], treatment: Callable[[Any], str]) -> None:
    """One warning per recorded file that changed since it was recorded
    (:class:`~requestcov.analysis.versions.ChangedFile`), the same words in
    every command: what happened to it, then ``treatment(file)``, what the
    command did about it."""
    for item in changed:
        warn(f"{display_path(item.path)} {item.describe()}: {treatment(item)}")


def warn_if_served_unrecorded(db: Optional[str], from_file: Optional[str]) -> None:
    """Say so when server processes answered connections but recorded no
    request (a server ``requestcov run`` could not wrap): what they ran then
    is in no request and in no start-up record (``served-unrecorded``)."""
    if from_file is not None:
        return
    from requestcov.records import SERVED_UNRECORDED, STARTUP
    from requestcov.store import SQLiteStore, resolve_db_path

    try:
        with SQLiteStore(resolve_db_path(db), read_only=True) as store:
            processes = {record.pid for record in store.iter_records((STARTUP,)) if record.test_id == SERVED_UNRECORDED}
    except RequestcovError:
        return  # the command itself reports an unreadable store
    if processes:
        count = len(processes)
        warn(f"{count} server process{'es' if count != 1 else ''} accepted connections but recorded no request "
             f"(a server requestcov run could not wrap: see the README's Record section); the code run for those "
             f"requests counts neither as run by requests nor as start-up")


def print_json(data: Any) -> None:
    click.echo(json_text(data))


def json_text(data: Any) -> str:
    """``json.dumps(data, indent=2)``, character for character, with the
    innermost lists and objects (their items all strings, numbers, booleans
    or null, or a list's items all such objects) written by the C encoder:
    an indented dump otherwise goes through the pure-Python one, a
    generator call per value. Anything the encoder would refuse is handed
    to ``json.dumps`` itself, to fail as it fails."""
    parts: List[str] = []
    try:
        _JsonWriter(parts).write(data, 0)
    except (TypeError, ValueError, RecursionError, _NotJson):
        return json.dumps(data, indent=2, sort_keys=False)
    return "".join(parts)


class _NotJson(Exception):
    """A key the indented writer leaves to ``json.dumps``."""


_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))
_JSON_KEYS = frozenset((str,))
#: How the encoder writes a string (its C function when there is one).
_json_string = json.encoder.encode_basestring_ascii


class _JsonWriter:
    """The layout of ``json.dumps(indent=2)``: each item on a line of its
    own, indented two spaces a level, ``[]`` and ``{}`` when empty. A
    container of scalars is one C encoding whose item separator is the
    newline and the indent of its items (an encoded string never holds a
    newline: ``ensure_ascii`` escapes it), so only the brackets are placed here."""

    def __init__(self, parts: List[str]) -> None:
        self.parts = parts
        self._encoders: Dict[int, json.JSONEncoder] = {}

    def _encode(self, value: Any, level: int) -> str:
        encoder = self._encoders.get(level)
        if encoder is None:
            encoder = self._encoders[level] = json.JSONEncoder(separators=(",\n" + "  " * level, ": "))
        return encoder.encode(value)

    def write(self, value: Any, level: int) -> None:
        append = self.parts.append
        inner, outer = "\n" + "  " * (level + 1), "\n" + "  " * level
        scalars = _JSON_SCALARS
        if isinstance(value, dict):
            if not value:
                append("{}")
            elif _JSON_KEYS.issuperset(map(type, value)) and scalars.issuperset(map(type, value.values())):
                append("{" + inner + self._encode(value, level + 1)[1:-1] + outer + "}")
            else:
                separator = "{" + inner
                for key, item in value.items():
                    if type(key) is not str:
                        raise _NotJson(key)
                    kind = type(item)
                    text = (_json_string(item) if kind is str else int.__repr__(item) if kind is int
                            else "null" if item is None else ("true" if item else "false") if kind is bool else None)
                    if text is not None:
                        append(separator + _json_string(key) + ": " + text)
                    else:
                        append(separator + _json_string(key) + ": ")
                        self.write(item, level + 1)
                    separator = "," + inner
                append(outer + "}")
        elif isinstance(value, (list, tuple)):
            if not value:
                append("[]")
            elif scalars.issuperset(map(type, value)):
                append("[" + inner + self._encode(value, level + 1)[1:-1] + outer + "]")
            elif all(type(item) is dict and item and _JSON_KEYS.issuperset(map(type, item))
                     and scalars.issuperset(map(type, item.values())) for item in value):
                # Objects of scalars: encoded at their items' indent, then each
                # boundary between two objects ("}," a newline "{": found
                # nowhere else) and the outer brackets put at the list's.
                deeper = "\n" + "  " * (level + 2)
                body = self._encode(value, level + 2)[2:-2].replace("}," + deeper + "{",
                                                                     inner + "}," + inner + "{" + deeper)
                append("[" + inner + "{" + deeper + body + inner + "}" + outer + "]")
            else:
                separator = "[" + inner
                for item in value:
                    append(separator)
                    self.write(item, level + 1)
                    separator = "," + inner
                append(outer + "]")
        else:
            append(self._encode(value, 0))


def reports_errors(function: F) -> F:
    """Decorator form of :func:`user_errors` for a whole command body."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
