"""``requestcov gaps``: code that no recorded request executed."""

from __future__ import annotations

from typing import Dict, List, Optional

import click
from requestcov.analysis.gaps import find_gaps, format_ranges
from requestcov.analysis.statements import exclusion_regex
from requestcov.analysis.versions import ChangedFile, RecordedVersions
from requestcov.commands._common import (
    console,
    display_path,
    json_option,
    load_index_or_fail,
    print_json,
    records_source_options,
    user_errors,
    warn,
    warn_changed_files,
    warn_if_served_unrecorded,
)
from requestcov.records import natural_key
from requestcov.report.terminal import PATH, Col, FoldingTable


def _startup_lines(db: Optional[str], versions: RecordedVersions) -> Dict[str, List[int]]:
    from requestcov.records import SERVED_UNRECORDED
    from requestcov.store import SQLiteStore, resolve_db_path

    lines: Dict[str, set] = {}
    with user_errors(), SQLiteStore(resolve_db_path(db), read_only=True) as store:
        for record in versions.current_only(store.startup_records()):
            if record.test_id == SERVED_UNRECORDED:  # ran for requests nobody recorded
                continue
            for path, numbers in record.lines.items():
                lines.setdefault(path, set()).update(numbers)
    return {path: sorted(numbers) for path, numbers in lines.items()}


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
              help="Count code the store's start-up records ran outside requests (imports, "
                   "module-level definitions) as run, as `coverage report` would; --no-startup "
                   "counts requests only (what the HTML report's percentage counts, so the two "
                   "numbers differ by the start-up code). A dedupData.yaml has no start-up records.")
@click.option("--rcfile", type=click.Path(dir_okay=False, exists=True), default=None,
              help="coverage.py configuration whose exclusions to use [default: the one coverage.py finds].")
@click.option("--all", "show_all", is_flag=True, help="Also list fully covered files.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, include_startup: bool,
            rcfile: Optional[str], show_all: bool) -> None:
    """Executable lines of the recorded files that no request ran, per file,
    with the functions never entered. Percentages match `coverage report`.

    A file changed since it was recorded counts only the records of it as it
    is now; one that no such record ran is not analysed (each is named in a
    warning and under "changed_since_recording" in --json)."""
    warn_if_served_unrecorded(db, from_file)
    versions = RecordedVersions()
    index = load_index_or_fail(db, from_file, through=versions.current_only)
    covered = index.covered_lines_by_file()
    for path in index.files:
        covered.setdefault(path, [])
    if include_startup and from_file is None:
        for path, lines in _startup_lines(db, versions).items():
            covered[path] = sorted(set(covered.get(path, ())) | set(lines))
    result = find_gaps(covered, exclusion_regex(rcfile if rcfile else True))
    changed = versions.changed()
    warn_changed_files(changed, _treatment)
    skipped = sorted(result.skipped, key=lambda item: natural_key(item[0]))
    for path, reason in skipped:
        warn(f"skipped {path}: {reason}")
    if as_json:
        print_json({
            "files": {
                item.path: {
                    "percent": round(item.percent, 2), "statements": item.statements, "executed": item.executed,
                    "missing": item.missing, "missing_ranges": format_ranges(item.ranges),
                    "functions_never_entered": [
                        {"name": function.name, "line": function.line, "end": function.body_end}
                        for function in item.functions_never_entered
                    ],
                }
                for item in sorted(result.files, key=lambda item: natural_key(item.path))
            },
            "percent": round(result.percent, 2),
            "statements": result.statements,
            "executed": result.executed,
            "skipped": [{"path": path, "reason": reason} for path, reason in skipped],
            "changed_since_recording": [
                {"path": item.path, "missing": item.missing, "records": item.records, "other_version": item.stale}
                for item in changed
            ],
        })
        return
    out = console()
    table = FoldingTable(f"Code no request ran: {result.percent:.1f}% of {result.statements} statements covered", [
        Col("file", whole=PATH), Col("stmts", "right"), Col("miss", "right"), Col("cover", "right"),
        Col("missing"), Col("functions never entered"),
    ])
    for item in sorted(result.files, key=lambda item: natural_key(display_path(item.path))):
        if not item.missing and not show_all:
            continue
        table.add_row(
            display_path(item.path), str(item.statements), str(len(item.missing)), f"{item.percent:.0f}%",
            format_ranges(item.ranges),
            ", ".join(f"{function.name} ({function.line})" for function in item.functions_never_entered),
        )
    table.print(out)
