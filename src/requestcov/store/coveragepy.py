"""Export records as a coverage.py data file, one dynamic context per request.

coverage.py's own tools then work on request coverage unchanged:
``coverage report``, ``coverage html --show-contexts`` (which request ran each
line), ``coverage json --show-contexts`` and ``coverage lcov``. Only the public
:class:`coverage.CoverageData` API is used, so the file stays readable by any
coverage.py version that reads the current format.

Code that ran outside requests (imports, ``def`` lines, module constants) is
the context ``startup``, so ``coverage report`` counts it as run, exactly as
``requestcov gaps`` does (which shows it apart), and the two totals agree.
What a server ran for requests nobody recorded (``served-unrecorded``) is not
written: no analysis counts it as run.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator, Optional

from coverage import CoverageData

from requestcov.errors import InputError, RequestcovError
from requestcov.records import SERVED_UNRECORDED, STARTUP, RequestRecord

__all__ = ["write_coverage_data", "context_name", "STARTUP_CONTEXT"]

#: The context holding every process's start-up code.
STARTUP_CONTEXT = "startup"


def context_name(record: RequestRecord) -> str:
    """The dynamic context of a record: ``test-set/test-id``, or the id alone.

    Keploy repeats ids such as ``test-1`` in every test set, so the set has to be
    part of the name for two tests to stay apart. Start-up records of every
    process share one context, ``startup``.
    """
    if record.kind == STARTUP:
        return STARTUP_CONTEXT
    return str(record.key)


def write_coverage_data(records: Iterable[RequestRecord], path: "str | os.PathLike[str]",
                        startup: Iterable[RequestRecord] = ()) -> int:
    """Write ``records`` (and the ``startup`` records, as the context
    ``startup``) as a coverage.py data file at ``path``; returns how many
    request records were written.

    A coverage.py file holds either lines or arcs, never both, so the first
    record decides: arcs when it has branch data, lines otherwise. The file is
    built beside its destination and renamed into place, so an existing
    ``.coverage`` is replaced only by a complete one.
    """
    destination = Path(path)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RequestcovError(f"cannot create the folder for {destination}: {error}") from error
    handle, temporary = tempfile.mkstemp(prefix=".coverage-export-", dir=destination.parent)
    os.close(handle)
    os.unlink(temporary)  # CoverageData creates its own SQLite file at this name
    try:
        data = CoverageData(basename=temporary)
        try:
            count = _fill(data, iter(records), startup)
        finally:
            # Newer coverage.py versions have close(); older ones close the connection
            # when the object is collected, which the rename does not need.
            close = getattr(data, "close", None)
            if close is not None:
                close()
        os.replace(temporary, destination)
    except BaseException:
        _remove_quietly(temporary)
        raise
    return count


def _fill(data: CoverageData, records: Iterator[RequestRecord], startup: Iterable[RequestRecord]) -> int:
    first: Optional[RequestRecord] = next(records, None)
    if first is None:
        # An empty line-data file: coverage.py then says "No data to report".
        data.add_lines({})
        data.write()
        return 0
    with_arcs = first.arcs is not None
    count = 0
    record: Optional[RequestRecord] = first
    while record is not None:
        _add(data, record, with_arcs)
        count += 1
        record = next(records, None)
    for record in startup:
        if record.test_id != SERVED_UNRECORDED:
            _add(data, replace(record, kind=STARTUP), with_arcs)
    data.write()
    return count


def _add(data: CoverageData, record: RequestRecord, with_arcs: bool) -> None:
    data.set_context(context_name(record))
    if with_arcs:
        if record.arcs is None:
            raise InputError(
                f"record {context_name(record)} has no branch data while earlier ones do; "
                "a coverage.py file holds lines or branches, not both: export the two kinds separately"
            )
        data.add_arcs({file_path: list(arcs) for file_path, arcs in record.arcs.items()})
    else:
        data.add_lines({file_path: list(lines) for file_path, lines in record.lines.items()})


def _remove_quietly(file_path: str) -> None:
    for candidate in (file_path, file_path + "-journal", file_path + "-wal", file_path + "-shm"):
        try:
            os.unlink(candidate)
        except FileNotFoundError:
            pass
