"""``requestcov run -- COMMAND ...``: run a Python server with every request recorded.

The command replaces itself with the server (``os.execvpe``), so the server
keeps this process's id, its exit code is the command's exit code, and Ctrl-C
or SIGTERM reach it exactly as if it had been started directly. What makes
the server record is only its environment; see :mod:`requestcov.launcher`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import List, Optional, Sequence, Tuple

import click

from requestcov.config import Config
from requestcov.launcher import launch_environment
from requestcov.store import resolve_db_path

__all__ = ["command", "build_config"]


def _split_values(values: Sequence[str]) -> Optional[List[str]]:
    """Repeated options and comma-separated lists both work (``--omit a,b --omit c``)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def build_config(
    *,
    db: Optional[str],
    source: Sequence[str],
    include: Sequence[str],
    omit: Sequence[str],
    id_header: Optional[str],
    test_set_header: Optional[str],
    branch: Optional[bool] = None,
    sample_rate: Optional[float] = None,
    sample_rules: Sequence[str] = (),
    control: Optional[bool] = None,
) -> Config:
    """Options given here win over ``REQUESTCOV_*``; the source defaults to the
    current folder and the store to an absolute path, so workers that change
    folder still measure and write the same places."""
    config = Config.resolve(
        source=_split_values(source), include=_split_values(include), omit=_split_values(omit),
        db=db, id_header=id_header, test_set_header=test_set_header, branch=branch,
        sample_rate=sample_rate, sample_rules=_split_values(sample_rules), control=control,
    )
    return dataclasses.replace(
        config,
        source=[os.path.abspath(folder) for folder in config.source or [os.getcwd()]],
        db=str(resolve_db_path(config.db).resolve()),
    )


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="SQLite store to write (default: $REQUESTCOV_DB or .requestcov/requestcov.db).")
@click.option("--source", multiple=True, metavar="FOLDERS",
              help="Folders (or files) to measure, comma-separated or repeated [default: the current folder].")
@click.option("--include", multiple=True, metavar="PATTERNS",
              help="Only measure files matching these patterns (comma-separated or repeated).")
@click.option("--omit", multiple=True, metavar="PATTERNS",
              help="Never measure files matching these patterns (comma-separated or repeated).")
@click.option("--id-header", default=None, metavar="NAME",
              help="Header carrying the test id [default: REQUESTCOV_ID_HEADER or KEPLOY-TEST-ID].")
@click.option("--test-set-header", default=None, metavar="NAME",
              help="Header carrying the test set [default: REQUESTCOV_TEST_SET_HEADER or KEPLOY-TEST-SET-ID].")
@click.option("--branch/--no-branch", default=None,
              help="Record arcs too, as coverage.py --branch does (uses the trace-function engine).")
@click.option("--sample-rate", type=click.FloatRange(0.0, 1.0), default=None, metavar="RATE",
              help="Share of requests without a test id to record, e.g. 0.05 in production [default: 1].")
@click.option("--sample", "sample_rules", multiple=True, metavar="'METHOD /PATH*=RATE'",
              help="Rate for matching requests, first match wins, e.g. 'GET /health*=0' (repeatable).")
@click.option("--control/--no-control", default=None,
              help="Answer POST /requestcov/test/start|end/{id} on loopback, with the token in "
                   "REQUESTCOV_TOKEN: requests in between belong to that test.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print where the records go.")
@click.argument("server_command", nargs=-1, type=click.UNPROCESSED, required=True, metavar="-- COMMAND ...")
def command(
    db: Optional[str],
    source: Tuple[str, ...],
    include: Tuple[str, ...],
    omit: Tuple[str, ...],
    id_header: Optional[str],
    test_set_header: Optional[str],
    branch: Optional[bool],
    sample_rate: Optional[float],
    sample_rules: Tuple[str, ...],
    control: Optional[bool],
    quiet: bool,
    server_command: Tuple[str, ...],
) -> None:
    """Run a Python server and record the coverage of every request it handles.

    \b
    Works without changing the app, for example:
      requestcov run -- python app.py
      requestcov run -- flask --app app run
      requestcov run -- gunicorn -w 4 --threads 4 app:app
      requestcov run -- uvicorn --workers 2 main:app
      requestcov run -- python manage.py runserver

    Workers, reloaders and other Python child processes record too. Stopping
    the server (Ctrl-C, SIGTERM) writes every finished request to the store.
    """
    try:
        config = build_config(
            db=db, source=source, include=include, omit=omit, id_header=id_header,
            test_set_header=test_set_header, branch=branch, sample_rate=sample_rate, sample_rules=sample_rules,
            control=control,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--sample'") from error
    environment = launch_environment(config, os.environ)
    arguments = list(server_command)
    if not quiet:
        click.echo(
            f"requestcov: recording {os.pathsep.join(config.source or [])} into {config.db}", err=True,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(arguments[0], arguments, environment)
    except OSError as error:
        click.echo(f"requestcov: cannot run {arguments[0]}: {error.strerror or error}", err=True)
        sys.exit(127 if isinstance(error, FileNotFoundError) else 126)
