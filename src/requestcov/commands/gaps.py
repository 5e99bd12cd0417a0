"""``requestcov gaps``: code that no recorded request executed."""

from __future__ import annotations

from typing import Optional

import click

from requestcov.analysis.covered import StatementTable, display_percent
from requestcov.analysis.gaps import GapsResult, find_gaps, format_ranges
from requestcov.analysis.statements import exclusion_regex
from requestcov.analysis.versions import ChangedFile, RecordedVersions
from requestcov.commands._common import (
    console,
    display_path,
    json_option,
    load_index_or_fail,
    load_startup_lines,
    print_json,
    recorded_versions_current,
    records_source_options,
    warn,
    warn_changed_files,
    warn_if_served_unrecorded,
)
from requestcov.records import natural_key
from requestcov.report.terminal import PATH, Col, FoldingTable


def headline(result: GapsResult, count_startup: bool = True) -> str:
    """The one-line total, saying what each number counts."""
    if count_startup:
        return (f"{display_percent(result.percent, 1)} of {result.statements} statements run "
                f"({result.by_requests} by requests, {result.startup_only} only at start-up), "
                f"{result.missed} missed")
    return (f"{display_percent(result.percent_by_requests, 1)} of {result.statements} statements run by requests "
            f"({result.startup_only} more only at start-up), {result.missed} missed")


def _treatment(item: ChangedFile) -> str:
    """Gaps reads the source now: lines recorded from another version are left out."""
    if item.missing or not item.current:
        return "not analysed"
    if item.current == 1:
        return "only the 1 record of it as it is now is counted"
    return f"only the {item.current} records of it as it is now are counted"


@click.command("gaps")
@records_source_options
@json_option
@click.option("--startup/--no-startup", "include_startup", default=True, show_default=True,
              help="Count statements only start-up code ran (imports, def lines, module constants) as run "
                   "in the percentages, as `coverage report` does on `requestcov export --format coverage` "
                   "(their `startup` context); --no-startup gives the share requests ran. Either way they "
                   "are counted apart and never listed as missed. A dedupData.yaml has no start-up records.")
@click.option("--rcfile", type=click.Path(dir_okay=False, exists=True), default=None,
              help="coverage.py configuration whose exclusions to use [default: the one coverage.py finds].")
@click.option("--all", "show_all", is_flag=True, help="Also list fully covered files.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, include_startup: bool,
            rcfile: Optional[str], show_all: bool) -> None:
    """Statements of the recorded files that nothing ran, per file, with the
    functions never entered; statements only start-up code ran are counted
    apart. The total and per-file percentages are `coverage report`'s on
    `requestcov export --format coverage`.

    A file changed since it was recorded counts only the records of it as it
    is now; one that no such record ran is not analysed (each is named in a
    warning and under "changed_since_recording" in --json)."""
    warn_if_served_unrecorded(db, from_file)
    versions = RecordedVersions()
    # Folded below, with --rcfile's exclusions. With every recorded version
    # the file now, nothing is left out: no filter, and the index is read
    # from the store's rows and packed sets.
    current = from_file is None and recorded_versions_current(db, versions)
    index = load_index_or_fail(db, from_file, fold=False, through=None if current else versions.current_only_keyed)
    covered = index.covered_lines_by_file()
    for path in index.files:
        covered.setdefault(path, [])
    if from_file is not None:
        warn("a dedupData.yaml holds no start-up records: statements run only at start-up "
             "(imports, def lines) count as missed")
    table_of_statements = StatementTable(exclusion_regex(rcfile if rcfile else True))
    startup = load_startup_lines(db, from_file, through=versions.current_only)
    result = find_gaps(covered, startup=startup, table=table_of_statements)
    changed = versions.changed()
    warn_changed_files(changed, _treatment)
    skipped = sorted(result.skipped, key=lambda item: natural_key(item[0]))
    for path, reason in skipped:
        warn(f"skipped {path}: {reason}")
    if as_json:
        print_json({
            "files": {
                item.path: {
                    "percent": round(item.percent if include_startup else item.percent_by_requests, 2),
                    "statements": item.statements, "executed": item.executed,
                    "run_by_requests": item.by_requests, "startup_only": item.startup_only,
                    "missed": len(item.missing),
                    "missing": item.missing, "missing_ranges": format_ranges(item.ranges),
                    "functions_never_entered": [
                        {"name": function.name, "line": function.line, "end": function.body_end}
                        for function in item.functions_never_entered
                    ],
                }
                for item in sorted(result.files, key=lambda item: natural_key(item.path))
            },
            "percent": round(result.percent if include_startup else result.percent_by_requests, 2),
            "startup_counted": include_startup,
            "statements": result.statements,
            "executed": result.executed,
            "run_by_requests": result.by_requests,
            "startup_only": result.startup_only,
            "missed": result.missed,
            "percent_with_startup": round(result.percent, 2),
            "percent_by_requests": round(result.percent_by_requests, 2),
            "skipped": [{"path": path, "reason": reason} for path, reason in skipped],
            "changed_since_recording": [
                {"path": item.path, "missing": item.missing, "records": item.records, "other_version": item.stale}
                for item in changed
            ],
        })
        return
    out = console()
    table = FoldingTable(f"Code no request ran: {headline(result, include_startup)}", [
        Col("file", whole=PATH), Col("stmts", "right"), Col("miss", "right"), Col("start-up", "right"),
        Col("cover", "right"), Col("missing"), Col("functions never entered"),
    ])
    for item in sorted(result.files, key=lambda item: natural_key(display_path(item.path))):
        if not item.missing and not show_all:
            continue
        cover = item.percent if include_startup else item.percent_by_requests
        table.add_row(
            display_path(item.path), str(item.statements), str(len(item.missing)), str(item.startup_only),
            display_percent(cover), format_ranges(item.ranges),
            ", ".join(f"{function.name} ({function.line})" for function in item.functions_never_entered),
        )
    table.print(out)
