"""``requestcov hot``: the code paths each endpoint's traffic takes."""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Optional, Set

import click

from requestcov.analysis.gaps import format_ranges, line_ranges
from requestcov.analysis.hot import CodePath, hot_paths
from requestcov.analysis.index import CoverageIndex
from requestcov.analysis.statements import UnparsableSource, parse_statements
from requestcov.analysis.versions import RecordedVersions
from requestcov.commands._common import (
    console,
    display_path,
    json_option,
    load_index_or_fail,
    natural_tests,
    print_json,
    records_source_options,
    warn_changed_files,
)
from requestcov.records import natural_key
from requestcov.report.terminal import ID, PATH, ROUTE, Col, FoldingTable

#: After the name of a file whose rare lines come (partly) from another version of it.
CHANGED_MARK = " (changed since recorded)"


def _rare_ranges(path: str, lines: List[int], changed: bool = False) -> str:
    """Rare lines as ranges the way ``gaps`` and coverage.py print missing
    ones: a run spans only statements that are all rare (blank lines and
    comments do not break it). Without the source, or when the file changed
    since it was recorded (its statements now are not the recorded ones),
    only consecutive numbers make a run."""
    consecutive = list(range(min(lines), max(lines) + 1)) if lines else []
    if changed:
        return format_ranges(line_ranges(consecutive, lines))
    try:
        statements = sorted(parse_statements(path).statements | set(lines))
    except (OSError, UnparsableSource):
        statements = consecutive
    return format_ranges(line_ranges(statements, lines))


def _rare_text(rare_lines: Dict[str, List[int]], changed: Set[str]) -> str:
    return "; ".join(
        f"{display_path(path)}{CHANGED_MARK if path in changed else ''}: {_rare_ranges(path, lines, path in changed)}"
        for path, lines in sorted(rare_lines.items(), key=lambda item: natural_key(item[0]))
    )


def _natural_paths(index: CoverageIndex, paths: List[CodePath]) -> List[CodePath]:
    """Each path's tests in natural id order, paths most frequent first and
    equally frequent ones by their first id: one order on every run."""
    ordered = [replace(path, tests=natural_tests(index, path.tests)) for path in paths]
    natural = index.natural_keys()
    return sorted(ordered, key=lambda path: (-path.count, natural[path.tests[0]]))


@click.command("hot")
@records_source_options
@json_option
@click.option("--rare", type=click.FloatRange(0.0, 1.0), default=0.05, show_default=True,
              help="Report lines reached by less than this share of an endpoint's requests.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Paths shown per endpoint in the table (--json lists all).")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, rare: float, top: int) -> None:
    """Per endpoint: requests, distinct code paths with their counts (most
    frequent first), and the lines only a rare share of requests reach.

    Every request counts, whatever version of the code it ran; the rare
    lines of a file changed since it was recorded are its recorded line
    numbers, marked "(changed since recorded)" (and named in a warning)."""
    versions = RecordedVersions()
    index = load_index_or_fail(db, from_file, through=versions.watch_keyed)
    changed_files = versions.changed()
    warn_changed_files(changed_files, lambda item: "its rare lines are marked and are the recorded line numbers")
    changed = {item.path for item in changed_files}
    traffic = [replace(item, paths=_natural_paths(index, item.paths)) for item in hot_paths(index, rare=rare)]
    if as_json:
        print_json({
            "endpoints": [
                {
                    "endpoint": item.endpoint,
                    "requests": item.requests,
                    "distinct_paths": len(item.paths),
                    "paths": [
                        {"count": path.count, "share": round(path.count / item.requests, 6),
                         "statements": path.line_count, "ids": [str(index.tests[test].key) for test in path.tests]}
                        for path in item.paths
                    ],
                    "rare_lines": {path: item.rare_lines[path] for path in sorted(item.rare_lines, key=natural_key)},
                }
                for item in traffic
            ],
            "rare": rare,
            "changed_since_recording": sorted(changed),
        })
        return
    out = console()
    table = FoldingTable(f"Code paths per endpoint ({len(index)} requests)", [
        Col("endpoint", whole=ROUTE), Col("requests", "right"), Col("paths", "right"),
        Col("most frequent paths (count: example ids)", whole=ID), Col(f"rare lines (< {rare:.0%} of requests)", whole=PATH),
    ])
    for item in traffic:
        shown = []
        for path in item.paths[:top]:
            examples = ", ".join(str(index.tests[test].key) for test in path.tests[:3])
            more = f" +{len(path.tests) - 3}" if len(path.tests) > 3 else ""
            shown.append(f"{path.count}: {examples}{more}")
        if len(item.paths) > top:
            shown.append(f"... {len(item.paths) - top} more")
        table.add_row(item.endpoint, str(item.requests), str(len(item.paths)), "\n".join(shown),
                      _rare_text(item.rare_lines, changed))
    table.print(out)
