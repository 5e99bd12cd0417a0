"""``requestcov export``: the store in the formats other tools read."""

from __future__ import annotations

import os
from typing import Callable, Dict, Optional

import click

from requestcov.commands._common import db_option, fail_if_empty, reports_errors
from requestcov.records import STARTUP
from requestcov.store import SQLiteStore, resolve_db_path, write_dedup_yaml
from requestcov.store.coveragepy import write_coverage_data
from requestcov.store.jsonexport import write_json


def _keploy(store: SQLiteStore, output: str) -> int:
    return write_dedup_yaml(store.iter_records(), output)


def _json(store: SQLiteStore, output: str) -> int:
    return write_json(store.iter_records(), store.iter_records((STARTUP,)), output)


def _coverage(store: SQLiteStore, output: str) -> int:
    return write_coverage_data(store.iter_records(), output, store.iter_records((STARTUP,)))


#: Format name -> (writer, default output file).
FORMATS: Dict[str, "tuple[Callable[[SQLiteStore, str], int], str]"] = {
    "keploy-yaml": (_keploy, "dedupData.yaml"),
    "json": (_json, "requestcov.json"),
    "coverage": (_coverage, ".coverage"),
}


@click.command("export")
@db_option
@click.option("--format", "output_format", type=click.Choice(sorted(FORMATS)), default="keploy-yaml",
              show_default=True, help="keploy-yaml: Keploy's dedupData.yaml; json: every record; "
              "coverage: a coverage.py data file with one context per request and one, startup, for "
              "code run outside requests.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write (default: dedupData.yaml, requestcov.json or .coverage).")
@reports_errors
def command(db: Optional[str], output_format: str, output: Optional[str]) -> None:
    """Write the recorded requests for Keploy, coverage.py or your own tools."""
    writer, default_output = FORMATS[output_format]
    destination = output or default_output
    with SQLiteStore(resolve_db_path(db), read_only=True) as store:
        fail_if_empty(store.count(), db)
        count = writer(store, destination)
    click.echo(f"wrote {count} request{'s' if count != 1 else ''} to {os.path.abspath(destination)}", err=True)
