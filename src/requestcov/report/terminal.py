"""Rich tables for the terminal."""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.table import Table

from requestcov.analysis.covered import display_percent
from requestcov.report.summary import Summary

__all__ = ["print_summary"]


def print_summary(summary: Summary, console: Console, limit: Optional[int] = None) -> None:
    table = Table(title="Requests recorded", title_justify="left", show_lines=False)
    table.add_column("id", overflow="fold")
    table.add_column("method")
    table.add_column("route", overflow="fold")
    table.add_column("status", justify="right")
    table.add_column("stmts", justify="right")
    table.add_column("files", justify="right")
    table.add_column("ms", justify="right")
    rows = summary.rows if limit is None else summary.rows[:limit]
    for row in rows:
        status_style = "red" if row.status is not None and row.status >= 500 else (
            "yellow" if row.status is not None and row.status >= 400 else ""
        )
        table.add_row(
            row.id, row.method, row.route or row.path,
            f"[{status_style}]{row.status}[/]" if status_style else str(row.status or ""),
            str(row.statements), str(row.files), f"{row.duration_ms:.1f}",
        )
    console.print(table)
    hidden = len(summary.rows) - len(rows)
    if hidden > 0:
        console.print(f"... {hidden} more requests (use --limit to show more)")
    totals = summary.totals
    console.print(
        f"[bold]{totals.requests}[/] requests ran [bold]{totals.run_by_requests}[/] of {totals.statements} "
        f"statements ({display_percent(totals.percent_by_requests, 1)}) in {totals.files} files; "
        + (f"start-up code ran {totals.startup_only} more, " if totals.startup_known
           else "start-up code unknown (no start-up records in a dedupData.yaml), ")
        + f"{totals.missed} never ran "
        f"({display_percent(totals.percent, 1)} run in all, as `requestcov gaps` counts); "
        f"from {totals.processes} process{'es' if totals.processes != 1 else ''}"
    )
    if totals.files_without_source:
        console.print(f"{totals.files_without_source} recorded file{'s' if totals.files_without_source != 1 else ''} "
                      f"not found here: in no total, their recorded lines counted as statements per request")
