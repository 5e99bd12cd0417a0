"""``requestcov report``: what was recorded, one row per request."""

from __future__ import annotations

from typing import Any, Dict, Optional

import click

from requestcov.commands._common import (
    bulk_reading,
    console,
    fail_if_empty,
    json_option,
    load_keyed_records,
    load_request_lines,
    load_startup_lines,
    print_json,
    reading_progress,
    records_source_options,
    user_errors,
    warn_if_served_unrecorded,
)
from requestcov.report.summary import Summary, summarize_keyed
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
    with user_errors(), reading_progress() as progress, bulk_reading():
        ran = None if from_file is not None else load_request_lines(db)
        summary = summarize_keyed(progress.counting(load_keyed_records(db, from_file)), startup,
                                  limit=None if as_json else limit, ran=ran)
    fail_if_empty(summary.totals.requests, db, from_file)
    timings = from_file is None  # a dedupData.yaml holds ids and lines only
    if as_json:
        print_json(_json(summary, timings))
        return
    print_summary(summary, console(), limit, timings=timings)
