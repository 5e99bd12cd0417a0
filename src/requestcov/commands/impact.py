"""``requestcov impact``: the recorded tests a change touches, and changed code no test runs."""

from __future__ import annotations

import os
from typing import Optional

import click

from requestcov.analysis.diff import git_diff, git_toplevel, parse_unified_diff
from requestcov.analysis.gaps import format_ranges, line_ranges
from requestcov.analysis.impact import find_impact
from requestcov.analysis.index import CoverageIndex
from requestcov.commands._common import (
    console,
    fail,
    json_option,
    load_index_or_fail,
    natural_tests,
    print_json,
    records_source_options,
    user_errors,
)
from requestcov.errors import RequestcovError
from requestcov.report.terminal import ID, PATH, ROUTE, Col, FoldingTable


def _folder_of_recorded_files(index: CoverageIndex) -> Optional[str]:
    """A folder holding some recorded file, to find the git repository from."""
    for path in index.files:
        folder = os.path.dirname(path)
        if os.path.isdir(folder):
            return folder
    return None


@click.command("impact")
@records_source_options
@json_option
@click.option("--diff", "revisions", metavar="REV[..REV]", default=None,
              help="Changes from git: REV against the work tree, or between REV..REV.")
@click.option("--diff-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A unified diff file, instead of asking git.")
@click.option("--repo", type=click.Path(file_okay=False, exists=True), default=None,
              help="Repository (or, with --diff-file, folder) the diff's paths are relative to "
                   "[default: the git repository of the recorded files].")
@click.option("--only-recorded", is_flag=True, help="Ignore changed files no test ever ran.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, revisions: Optional[str],
            diff_file: Optional[str], repo: Optional[str], only_recorded: bool) -> None:
    """List the recorded tests that executed changed lines, and the changed
    executable lines that no recorded test executes."""
    if (revisions is None) == (diff_file is None):
        fail("name the changes with exactly one of --diff REV[..REV] or --diff-file PATCH")
    index = load_index_or_fail(db, from_file, fold=False)
    with user_errors():
        if diff_file is not None:
            try:
                with open(diff_file, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as error:
                fail(f"cannot read {diff_file}: {error.strerror or error}")
            if repo is not None:
                root = os.path.abspath(repo)
            else:
                start = _folder_of_recorded_files(index)
                try:
                    root = git_toplevel(start) if start else os.getcwd()
                except RequestcovError:
                    root = os.getcwd()
        else:
            start = repo or _folder_of_recorded_files(index) or os.getcwd()
            root = git_toplevel(start)
            text = git_diff(str(revisions), root)
        changes = parse_unified_diff(text)
        result = find_impact(index, changes, root, only_recorded=only_recorded)

    name = lambda test: str(index.tests[test].key)  # noqa: E731
    if as_json:
        print_json({
            "tests": [name(test) for test in natural_tests(index, result.tests)],
            "untested_changed_lines": result.untested,
            "changed_lines": result.changed,
            "lines_hit": {name(test): result.lines_hit[test] for test in natural_tests(index, result.lines_hit)},
            "matched_by_suffix": result.matched_by_suffix,
            "root": root,
        })
        return
    out = console()
    tests = FoldingTable(f"{len(result.tests)} recorded tests executed changed lines",
                         [Col("test", whole=ID), Col("endpoint", whole=ROUTE), Col("changed lines it ran", whole=PATH)])
    for test in natural_tests(index, result.tests):
        hits = "; ".join(
            f"{os.path.relpath(path, root)}: {format_ranges(line_ranges(lines, lines))}"
            for path, lines in sorted(result.lines_hit[test].items())
        )
        tests.add_row(name(test), index.tests[test].endpoint, hits)
    tests.print(out)
    untested = FoldingTable("Changed executable lines no recorded test runs", [Col("file", whole=PATH), Col("lines")])
    for path, lines in sorted(result.untested.items()):
        untested.add_row(os.path.relpath(path, root), format_ranges(line_ranges(lines, lines)))
    untested.print(out)
