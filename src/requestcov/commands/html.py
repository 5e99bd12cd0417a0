"""``requestcov html``: write the static HTML report."""

from __future__ import annotations

import os
from typing import Optional

import click

from requestcov.analysis.covered import display_percent
from requestcov.analysis.versions import ChangedFile, RecordedVersions
from requestcov.commands._common import (
    json_option,
    load_or_fail,
    load_startup_lines,
    print_json,
    records_source_options,
    reports_errors,
    warn_changed_files,
)
from requestcov.report.html import write_html_report


@click.command("html")
@records_source_options
@json_option
@click.option("-o", "--output", "output", type=click.Path(file_okay=False), default="requestcov-html",
              show_default=True, help="Folder to write the report into (created when missing).")
@click.option("--title", default="requestcov report", show_default=True, help="Title shown on every page.")
@reports_errors
def command(db: Optional[str], from_file: Optional[str], as_json: bool, output: str, title: str) -> None:
    """Write a static HTML report: endpoints, files with the requests behind each
    line, and every test with the tests that duplicate or subsume it.

    A file changed since it was recorded shows only the records of it as it
    is now (one that no such record ran is left out); a warning names each."""
    versions = RecordedVersions()
    # Pages list tests in the order they are given: the ids' natural order.
    records = sorted(load_or_fail(db, from_file, through=versions.current_only),
                     key=lambda record: (record.key.natural, record.start, record.record_id or 0))
    warn_changed_files(versions.changed(), _treatment)
    # A dedupData.yaml has no start-up records.
    startup = None if from_file is not None else load_startup_lines(db, from_file, through=versions.current_only)
    report = write_html_report(records, output, title=title, startup=startup)
    if as_json:
        print_json({"index": os.path.abspath(report.index), "pages": report.pages, "requests": report.requests,
                    "files": report.files, "percent": None if report.percent is None else round(report.percent, 2),
                    "statements": report.statements, "run_by_requests": report.run_by_requests,
                    "startup_only": report.startup_only, "missed": report.missed})
        return
    share = "source not found" if report.percent is None else (
        f"{display_percent(report.percent, 1)} of {report.statements} statements run: {report.run_by_requests} by "
        f"requests, {report.startup_only} only at start-up, {report.missed} missed")
    click.echo(
        f"wrote {report.pages} pages for {_count(report.requests, 'request')} and {_count(report.files, 'file')} "
        f"({share}) to {os.path.abspath(report.index)}",
        err=True,
    )


def _treatment(item: ChangedFile) -> str:
    if item.missing or not item.current:
        return "left out of the report"
    return f"the report shows only the {_count(item.current, 'record')} of it as it is now"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
