"""``requestcov minimize``: the fewest tests that cover what the whole suite covers."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, Optional

import click
from rich.console import Console

from requestcov.analysis.setcover import CoverResult, minimize
from requestcov.commands._common import (
    console,
    is_terminal,
    json_option,
    load_index_or_fail,
    natural_tests,
    print_json,
    records_source_options,
    user_errors,
)
from requestcov.report.terminal import ID, ROUTE, Col, FoldingTable

__all__ = ["command", "verdict", "stderr_progress"]


def verdict(result: CoverResult) -> str:
    """"optimal" only when proven (the cover is as small as a lower bound);
    otherwise what is known: the best cover found and the bound."""
    if result.optimal:
        return "optimal"
    return f"best found, lower bound {result.lower_bound}"


def _how(result: CoverResult, time_limit: float) -> str:
    if result.method != "exact":
        return "greedy"
    if result.solver_status is None:
        return "exact: greedy's cover already equals the lower bound"
    stopped = f"stopped at the {time_limit:g} s time limit" if result.solver_status == "time limit" else None
    if result.found_by == "exact":
        return "exact (HiGHS" + (f", {stopped})" if stopped else ")")
    return f"exact (HiGHS{', ' + stopped if stopped else ''}; greedy's cover kept: the solver found none smaller)"


def stderr_progress() -> Callable[[str], None]:
    """Progress for stderr (never stdout, which --json keeps for its data):
    one line in place on a terminal; elsewhere a line for every phase and,
    while the solver runs, after 1, 2 and 5 s and then every 5 s."""
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    interactive = is_terminal(sys.stderr)
    started = time.monotonic()
    state: Dict[str, Any] = {"next": 1.0, "status": None}

    def report(message: str) -> None:
        if interactive:
            if state["status"] is None:
                state["status"] = errors.status(message)
                state["status"].start()
            else:
                state["status"].update(message)
            return
        if message.startswith("solving exactly:"):
            elapsed = time.monotonic() - started
            if elapsed < state["next"]:
                return
            state["next"] = elapsed + (1.0 if elapsed < 2 else 3.0 if elapsed < 5 else 5.0)
        errors.print(f"minimize: {message}")

    def stop() -> None:
        if state["status"] is not None:
            state["status"].stop()

    report.stop = stop  # type: ignore[attr-defined]
    return report


@click.command("minimize")
@records_source_options
@json_option
@click.option("--exact", is_flag=True, help="Solve exactly with HiGHS (needs scipy: pip install requestcov[exact]).")
@click.option("--time-limit", type=click.FloatRange(min=0.0, min_open=True), default=30.0, show_default=True,
              help="Seconds the exact solver may take before returning its best answer and bound.")
@click.option("--show-dropped", is_flag=True, help="List the dropped tests in the table too.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr while --exact solves.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, exact: bool, time_limit: float,
            show_dropped: bool, quiet: bool) -> None:
    """Choose the smallest set of tests whose union still covers every statement
    (and arc) the whole suite covers: greedy by default, exact with --exact.
    Says "optimal" only when proven; otherwise the best set found and a lower
    bound on the size of any set covering everything."""
    progress = None if quiet or not exact else stderr_progress()
    if progress is not None:
        progress("reading the records")
    index = load_index_or_fail(db, from_file, progress=progress is None)
    try:
        with user_errors():
            result = minimize(index, exact=exact, time_limit=time_limit, progress=progress)
    finally:
        if progress is not None:
            progress.stop()  # type: ignore[attr-defined]
    name = lambda test: str(index.tests[test].key)  # noqa: E731
    keep = natural_tests(index, result.keep)
    drop = natural_tests(index, result.drop)
    if as_json:
        print_json({
            "keep": [name(test) for test in keep],
            "drop": [name(test) for test in drop],
            "optimal": result.optimal,
            "verdict": verdict(result),
            "lower_bound": result.lower_bound,
            "method": result.method,
            "found_by": result.found_by,
            "solver_status": result.solver_status,
            "greedy_size": result.greedy_size,
            "tests": len(index),
            "elements": result.element_count,
            "element_classes": result.class_count,
        })
        return
    out = console()
    table = FoldingTable(f"Keep {len(result.keep)} of {len(index)} tests", [
        Col("test", whole=ID), Col("endpoint", whole=ROUTE), Col("stmts", "right"), Col(""),
    ])
    for test in keep:
        info = index.tests[test]
        table.add_row(str(info.key), info.endpoint, str(info.line_count), "keep")
    if show_dropped:
        for test in drop:
            info = index.tests[test]
            table.add_row(str(info.key), info.endpoint, str(info.line_count), "drop")
    table.print(out)
    out.print(f"{_how(result, time_limit)}: keep {len(result.keep)}, drop {len(result.drop)} ({verdict(result)})",
              highlight=False)
