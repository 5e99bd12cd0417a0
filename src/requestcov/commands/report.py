"""``requestcov report``: what was recorded, one row per request."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import click

from requestcov.commands._common import (
    StderrProgress,
    bulk_reading,
    console,
    fail_if_empty,
    json_option,
    load_keyed_records,
    load_startup_lines,
    print_json,
    reading_progress,
    records_source_options,
    user_errors,
    warn_if_served_unrecorded,
)
from requestcov.report.summary import Summary, summarize_keyed, summarize_rows
from requestcov.report.terminal import print_summary


def _json(summary: Summary, timings: bool) -> Dict[str, Any]:
    """The summary as JSON; without timings (a dedupData.yaml) durations,
    process ids and the process count are null, not zeros nobody measured."""
    data = summary.to_json()
    if not timings:
        for row in data["requests"]:
            row["duration_ms"] = None
            row["pid"] = None
        data["totals"]["processes"] = None
    return data


def _store_summary(db: Optional[str], startup: Optional[Dict[str, List[int]]], limit: Optional[int],
                   progress: StderrProgress) -> Optional[Summary]:
    """The summary of a store read as rows and packed line sets
    (:func:`~requestcov.report.summary.summarize_rows`); None for a store
    of an older schema, which keeps no line sets."""
    from requestcov.analysis.covered import StatementTable
    from requestcov.analysis.lineunion import line_union, set_figures
    from requestcov.store import SQLiteStore, resolve_db_path

    table = StatementTable()
    with SQLiteStore(resolve_db_path(db), read_only=True) as store:
        line_sets = store.distinct_line_numbers()
        rows = store.request_rows()
        if line_sets is None or rows is None:
            return None
        ran = line_union(line_sets)

        def figures(set_ids: List[Optional[int]]) -> Dict[int, Tuple[int, int]]:
            chosen = store.keyed_line_numbers(set_ids=[set_id for set_id in set_ids if set_id is not None])
            return {} if chosen is None else set_figures(chosen, table)

        return summarize_rows(progress.counting(rows), figures, ran, startup, table, limit)


@click.command("report")
@records_source_options
@json_option
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Show at most this many requests.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, limit: Optional[int]) -> None:
    """Show every recorded request: id, method, route, status, statements run
    and files, with totals: statements run by requests, only at start-up,
    and never (the figures of `requestcov gaps`)."""
    warn_if_served_unrecorded(db, from_file)
    startup = None if from_file is not None else load_startup_lines(db, from_file)  # a dedupData.yaml has none
    shown = None if as_json else limit
    with user_errors(), reading_progress() as progress, bulk_reading():
        summary = None if from_file is not None else _store_summary(db, startup, shown, progress)
        if summary is None:  # a dedupData.yaml, or a store of an older schema
            summary = summarize_keyed(progress.counting(load_keyed_records(db, from_file)), startup, limit=shown)
    fail_if_empty(summary.totals.requests, db, from_file)
    timings = from_file is None  # a dedupData.yaml holds ids and lines only
    if as_json:
        print_json(_json(summary, timings))
        return
    print_summary(summary, console(), limit, timings=timings)
