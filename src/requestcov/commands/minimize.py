"""``requestcov minimize``: the fewest tests that cover what the whole suite covers."""

from __future__ import annotations

from typing import Optional

import click
from rich.table import Table

from requestcov.analysis.setcover import minimize
from requestcov.commands._common import (
    console,
    json_option,
    load_index_or_fail,
    print_json,
    records_source_options,
    user_errors,
)


@click.command("minimize")
@records_source_options
@json_option
@click.option("--exact", is_flag=True, help="Solve exactly with HiGHS (needs scipy: pip install requestcov[exact]).")
@click.option("--time-limit", type=click.FloatRange(min=0.0, min_open=True), default=30.0, show_default=True,
              help="Seconds the exact solver may take before returning its best answer and bound.")
@click.option("--show-dropped", is_flag=True, help="List the dropped tests in the table too.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, exact: bool, time_limit: float,
            show_dropped: bool) -> None:
    """Choose the smallest set of tests whose union still covers every statement
    (and arc) the whole suite covers: greedy by default, exact with --exact."""
    index = load_index_or_fail(db, from_file)
    with user_errors():
        result = minimize(index, exact=exact, time_limit=time_limit)
    name = lambda test: str(index.tests[test].key)  # noqa: E731
    if as_json:
        print_json({
            "keep": [name(test) for test in result.keep],
            "drop": [name(test) for test in result.drop],
            "optimal": result.optimal,
            "lower_bound": result.lower_bound,
            "method": result.method,
            "greedy_size": result.greedy_size,
            "tests": len(index),
            "elements": result.element_count,
            "element_classes": result.class_count,
        })
        return
    out = console()
    table = Table(title=f"Keep {len(result.keep)} of {len(index)} tests")
    table.add_column("test")
    table.add_column("endpoint")
    table.add_column("stmts", justify="right")
    table.add_column("", justify="left")
    for test in result.keep:
        info = index.tests[test]
        table.add_row(str(info.key), info.endpoint, str(info.line_count), "keep")
    if show_dropped:
        for test in result.drop:
            info = index.tests[test]
            table.add_row(str(info.key), info.endpoint, str(info.line_count), "drop")
    out.print(table)
    verdict = "optimal" if result.optimal else f"not proven optimal; at least {result.lower_bound} tests are needed"
    out.print(f"{result.method}: keep {len(result.keep)}, drop {len(result.drop)} ({verdict})")
