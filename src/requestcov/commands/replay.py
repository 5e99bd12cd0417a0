"""``requestcov replay``: send recorded requests to a running app with their
test ids, for people who have recordings but no traffic generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional

import click
from rich.console import Console
from rich.markup import escape

from requestcov.commands._common import console as output_console
from requestcov.commands._common import json_option, print_json
from requestcov.config import Config
from requestcov.errors import RequestcovError
from requestcov.replay import ReplayResult, ReplaySummary, replay_directory
from requestcov.replay.model import FAILED, MISMATCHED
from requestcov.report.terminal import Col, FoldingTable

__all__ = ["command", "print_result", "print_summary", "summary_json"]


def _shared_options(function: Callable[..., None]) -> Callable[..., None]:
    """The options both recording kinds take, declared once."""
    decorators = [
        click.option("--url", required=True, metavar="URL",
                     help="The running app, e.g. http://127.0.0.1:8000; each request keeps its path and query."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                     help="Seconds to wait for each answer."),
        click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Requests in flight at once."),
        click.option("--limit", type=click.IntRange(min=0), default=None,
                     help="Send only the first N requests."),
        click.option("--id-header", default=None, metavar="NAME",
                     help="Header carrying the test id [default: REQUESTCOV_ID_HEADER or KEPLOY-TEST-ID]."),
        click.option("--test-set-header", default=None, metavar="NAME",
                     help="Header carrying the test set [default: REQUESTCOV_TEST_SET_HEADER or KEPLOY-TEST-SET-ID]."),
        json_option,
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@click.group("replay")
def command() -> None:
    """Send recorded requests to a running app, each with its test id header.

    Status codes that differ from the recording are reported, not fatal. The
    exit code is 1 only when no request could be sent at all.
    """


@command.command("keploy")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_shared_options
def keploy_command(
    directory: Path, url: str, timeout: float, concurrency: int, limit: Optional[int],
    id_header: Optional[str], test_set_header: Optional[str], as_json: bool,
) -> None:
    """Replay Keploy test sets: DIRECTORY/test-set-N/tests/*.yaml (or one test-set folder).

    KEPLOY-TEST-SET-ID is set to the test-set folder name, KEPLOY-TEST-ID to the test name,
    and the last test of each set gets KEPLOY-LAST-TESTCASE: true, as Keploy sends them.
    """
    _run("keploy", directory, url=url, timeout=timeout, concurrency=concurrency, limit=limit,
         id_header=id_header, test_set_header=test_set_header, test_set="", as_json=as_json)


@command.command("har")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_shared_options
@click.option("--test-set", default="", metavar="NAME", help="Test set to record these requests under.")
def har_command(
    file: Path, test_set: str, url: str, timeout: float, concurrency: int, limit: Optional[int],
    id_header: Optional[str], test_set_header: Optional[str], as_json: bool,
) -> None:
    """Replay a HAR file saved from a browser; test ids are har-1, har-2, ...
    (or an entry's _id or comment)."""
    _run("har", file, url=url, timeout=timeout, concurrency=concurrency, limit=limit,
         id_header=id_header, test_set_header=test_set_header, test_set=test_set, as_json=as_json)


def _run(
    kind: str, path: Path, *, url: str, timeout: float, concurrency: int, limit: Optional[int],
    id_header: Optional[str], test_set_header: Optional[str], test_set: str, as_json: bool = False,
) -> None:
    config = Config.resolve(id_header=id_header, test_set_header=test_set_header)
    console = output_console()
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        summary = replay_directory(
            kind, path, url, timeout=timeout, concurrency=concurrency, limit=limit, test_set=test_set,
            id_header=config.id_header, test_set_header=config.test_set_header,
            on_result=(lambda result: None) if as_json else (lambda result: print_result(console, result)),
            on_warning=lambda warning: errors.print(f"warning: {escape(warning)}"),
        )
    except RequestcovError as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        print_json(summary_json(summary))
    else:
        print_summary(console, summary)
    if summary.sent == 0:
        if summary.results:
            reason = summary.results[0].error
            raise click.ClickException(f"nothing could be sent to {url}: {reason}")
        raise click.ClickException(f"nothing to send: {path} holds no request that can be replayed")


def summary_json(summary: ReplaySummary) -> Dict[str, Any]:
    """The tally and every request that did not go as recorded."""
    return {
        "sent": summary.sent, "matched": summary.matched, "mismatched": summary.mismatched,
        "no_recorded_status": summary.unchecked, "failed": summary.failed, "skipped_inputs": summary.skipped,
        "problems": [
            {"id": result.request.label, "method": result.request.method, "target": result.request.target,
             "outcome": result.outcome, "status": result.status, "recorded_status": result.request.expected_status,
             "error": result.error or None}
            for result in summary.results if result.outcome in (MISMATCHED, FAILED)
        ],
    }


def print_result(console: Console, result: ReplayResult) -> None:
    """One line per request that did not go as recorded; matches stay quiet.
    ``requestcov run --replay`` prints the same lines."""
    request = result.request
    what = f"{escape(request.label)}  {escape(request.method)} {escape(request.target)}"
    # One line each, never wrapped, so a line is a request for grep.
    if result.outcome == MISMATCHED:
        console.print(f"mismatch  {what}: got {result.status}, recorded {request.expected_status}",
                      soft_wrap=True, highlight=False)
    elif result.outcome == FAILED:
        console.print(f"failed    {what}: {escape(result.error)}", soft_wrap=True, highlight=False)


def print_summary(console: Console, summary: ReplaySummary) -> None:
    """The tally as a table; ``requestcov run --replay`` prints the same one."""
    table = FoldingTable("replay", [Col(name, "right") for name in (
        "sent", "matched", "mismatched", "no recorded status", "failed", "skipped inputs")], title_justify="left")
    table.add_row(*(str(value) for value in (
        summary.sent, summary.matched, summary.mismatched, summary.unchecked, summary.failed, summary.skipped,
    )))
    table.print(console)
