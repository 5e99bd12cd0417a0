"""``requestcov report``: what was recorded, one row per request."""

from __future__ import annotations

import json
from typing import Optional

import click
from rich.console import Console

from requestcov.commands._common import (
    json_option,
    load_or_fail,
    load_startup_lines,
    records_source_options,
    warn_if_served_unrecorded,
)
from requestcov.report.summary import summarize
from requestcov.report.terminal import print_summary


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
    summary = summarize(load_or_fail(db, from_file), startup)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    print_summary(summary, Console(), limit)
