"""``requestcov export``: the store in the formats other tools read.

Records are written in the natural order of their ids (test-2 before
test-10, requests of one test by start time), so two exports of the same
tests are the same file whatever order the requests were recorded in. The
order is found without holding every record in memory: one pass reads the
keys, then records are read again in batches of bounded size.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import click

from requestcov.commands._common import (
    fail_if_empty,
    json_option,
    print_json,
    records_source_options,
    reports_errors,
)
from requestcov.records import STARTUP, RequestRecord
from requestcov.store import SQLiteStore, read_dedup_yaml, resolve_db_path, write_dedup_yaml
from requestcov.store.coveragepy import write_coverage_data
from requestcov.store.jsonexport import write_json
from requestcov.store.keploy import LAYOUTS, NESTED
from requestcov.store.testwise import write_testwise

__all__ = ["command", "FORMATS", "natural_records"]

Reader = Callable[[], Iterator[RequestRecord]]

#: Lines held in memory at once while records are put in natural order.
_BATCH_LINES = 2_000_000


def natural_records(read: Reader, batch_lines: int = _BATCH_LINES) -> Iterator[RequestRecord]:
    """The records ``read()`` yields, in natural id order. ``read`` is called
    once for the keys and then once per batch of about ``batch_lines``
    lines (once in all for any store that fits in that)."""
    keys: List[Tuple[Any, ...]] = []
    sizes: List[int] = []
    for position, record in enumerate(read()):
        keys.append((record.key.natural, record.start, position))
        sizes.append(record.line_count())
    order = sorted(range(len(keys)), key=keys.__getitem__)
    start = 0
    while start < len(order):
        end, lines = start, 0
        while end < len(order) and (end == start or lines + sizes[order[end]] <= batch_lines):
            lines += sizes[order[end]]
            end += 1
        wanted = {position: rank for rank, position in enumerate(order[start:end])}
        batch: List[Optional[RequestRecord]] = [None] * (end - start)
        for position, record in enumerate(read()):
            rank = wanted.get(position)
            if rank is not None:
                batch[rank] = record
        for record in batch:
            if record is not None:
                yield record
        start = end


def _keploy(records: Iterable[RequestRecord], startup: Iterable[RequestRecord], output: str, layout: str) -> int:
    return write_dedup_yaml(records, output, layout)


def _json(records: Iterable[RequestRecord], startup: Iterable[RequestRecord], output: str, layout: str) -> int:
    return write_json(records, startup, output)


def _coverage(records: Iterable[RequestRecord], startup: Iterable[RequestRecord], output: str, layout: str) -> int:
    return write_coverage_data(records, output, startup)


def _testwise(records: Iterable[RequestRecord], startup: Iterable[RequestRecord], output: str, layout: str) -> int:
    return write_testwise(records, output)


Writer = Callable[[Iterable[RequestRecord], Iterable[RequestRecord], str, str], int]

#: Format name -> (writer of the requests and start-up records with the
#: dedupData.yaml layout, default output file).
FORMATS: Dict[str, "tuple[Writer, str]"] = {
    "keploy-yaml": (_keploy, "dedupData.yaml"),
    "json": (_json, "requestcov.json"),
    "coverage": (_coverage, ".coverage"),
    "testwise": (_testwise, "testwise.json"),
}


@click.command("export")
@records_source_options
@json_option
@click.option("--format", "output_format", type=click.Choice(sorted(FORMATS)), default="keploy-yaml",
              show_default=True, help="keploy-yaml: Keploy's dedupData.yaml; json: every record; "
              "coverage: a coverage.py data file with one context per request and one, startup, for "
              "code run outside requests; testwise: Teamscale's Testwise Coverage JSON, one entry per test.")
@click.option("--layout", type=click.Choice(LAYOUTS), default=NESTED, show_default=True,
              help="keploy-yaml only: nested (test set -> test -> files, Keploy Enterprise's current "
              "form), list (bare ids with testSetId) or qualified (ids test-set/test-id).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write (default: dedupData.yaml, requestcov.json, .coverage or testwise.json).")
@reports_errors
def command(db: Optional[str], from_file: Optional[str], as_json: bool, output_format: str,
            layout: str, output: Optional[str]) -> None:
    """Write the recorded requests for Keploy, coverage.py or your own tools
    (from the store, or converted from a dedupData.yaml with --from)."""
    writer, default_output = FORMATS[output_format]
    destination = output or default_output
    with ExitStack() as stack:
        if from_file is not None:
            path = from_file
            read: Reader = lambda: read_dedup_yaml(path)  # noqa: E731
            startup: Iterable[RequestRecord] = ()
            fail_if_empty(sum(1 for _ in read()), db, from_file)
        else:
            store = stack.enter_context(SQLiteStore(resolve_db_path(db), read_only=True))
            read = store.iter_records
            startup = store.iter_records((STARTUP,))
            fail_if_empty(store.count(), db)
        count = writer(natural_records(read), startup, destination, layout)
    written = os.path.abspath(destination)
    if as_json:
        print_json({"format": output_format, "output": written, "requests": count})
        return
    click.echo(f"wrote {count} request{'s' if count != 1 else ''} to {written}", err=True)
