"""``requestcov impact``: the recorded tests a change touches, and changed code no test runs.

The diff is taken in one repository, named in the output: ``--repo`` when
given, else the git work tree the recorded files were recorded in (when it
still exists), else the one of the current folder; a note says so when the
current folder is in another one. Each test's recorded lines are read in the
version of the file it ran (see :mod:`requestcov.analysis.impact`).
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import click

from requestcov.analysis.diff import diff_target, git_diff, git_toplevel, looks_like_a_diff, parse_unified_diff
from requestcov.analysis.gaps import format_ranges, line_ranges
from requestcov.analysis.impact import GitLineMaps, find_impact
from requestcov.analysis.index import CoverageIndex
from requestcov.analysis.versions import RecordedVersions
from requestcov.commands._common import (
    console,
    display_path,
    fail,
    json_option,
    load_index_or_fail,
    natural_tests,
    print_json,
    records_source_options,
    user_errors,
    warn,
    warn_changed_files,
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


def _toplevel(folder: Optional[str]) -> Optional[str]:
    if folder is None:
        return None
    try:
        return git_toplevel(folder)
    except RequestcovError:
        return None


def _same(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return os.path.normpath(one) == os.path.normpath(other)


def _repository(repo: Optional[str], index: CoverageIndex, versions: RecordedVersions,
                need_git: bool) -> Tuple[str, bool]:
    """The folder the diff's paths are relative to, and whether it is a git work tree."""
    if repo is not None:
        toplevel = _toplevel(repo)
        if toplevel is None and need_git:
            git_toplevel(repo)  # raises, with git's own words
        return (toplevel or os.path.abspath(repo)), toplevel is not None
    recorded = next((root for root in versions.repositories() if os.path.isdir(root)), None)
    recorded = _toplevel(recorded) or _toplevel(_folder_of_recorded_files(index))
    here = _toplevel(os.getcwd())
    if recorded is not None:
        if here is not None and not _same(here, recorded):
            warn(f"the current folder is in the repository {here}, the recorded files in {recorded}: "
                 f"comparing {recorded} (--repo chooses another)")
        return recorded, True
    if here is not None:
        return here, True
    if need_git:
        git_toplevel(os.getcwd())  # raises: not a git repository
    return os.getcwd(), False


def _warn_unmapped(unmapped: Dict[str, str], matched_by_suffix: Dict[str, str], versions: RecordedVersions) -> None:
    """Files whose recorded lines could not be read in their own version, in
    the words every command uses for files changed since recording."""
    changed = {item.path: item for item in versions.changed()}
    for path, why in sorted(unmapped.items()):
        item = changed.get(matched_by_suffix.get(path, path))
        if item is None:
            warn(f"{display_path(path)} changed since it was recorded: {why}")
            continue
        warn_changed_files([item], lambda _item, why=why: why)


@click.command("impact")
@records_source_options
@json_option
@click.option("--diff", "revisions", metavar="REV[..REV]", default=None,
              help="Changes from git: REV against the work tree, or between REV..REV.")
@click.option("--diff-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A unified diff file, instead of asking git (its new side is taken to be the work tree).")
@click.option("--repo", type=click.Path(file_okay=False, exists=True), default=None,
              help="Repository (or, with --diff-file, folder) the diff's paths are relative to "
                   "[default: the git repository of the recorded files, else of the current folder].")
@click.option("--only-recorded", is_flag=True, help="Ignore changed files no test ever ran.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, revisions: Optional[str],
            diff_file: Optional[str], repo: Optional[str], only_recorded: bool) -> None:
    """List the recorded tests that executed changed lines, and the changed
    executable lines that no recorded test executes. Lines recorded at an
    older version of a file are carried through git's diff from that version,
    so code whose lines moved still finds its tests."""
    if (revisions is None) == (diff_file is None):
        fail("name the changes with exactly one of --diff REV[..REV] or --diff-file PATCH")
    text = ""
    if diff_file is not None:
        try:
            with open(diff_file, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as error:
            fail(f"cannot read {diff_file}: {error.strerror or error}")
        if not looks_like_a_diff(text):
            fail(f"{diff_file} is not a unified diff (no '--- a/FILE', '+++ b/FILE' or '@@' lines)")
    versions = RecordedVersions(per_test=True)
    index = load_index_or_fail(db, from_file, fold=False, through=versions.watch_keyed)  # lines as recorded, for the diff
    with user_errors():
        root, in_git = _repository(repo, index, versions, need_git=diff_file is None)
        target: Optional[str] = None
        if diff_file is not None:
            described = f"the diff in {display_path(diff_file)}"
        else:
            text = git_diff(str(revisions), root)
            target = diff_target(str(revisions))
            described = f"git diff {revisions}"
        changes = parse_unified_diff(text)
        result = find_impact(index, changes, root, only_recorded=only_recorded, versions=versions,
                             line_maps=GitLineMaps(root, target) if in_git else None)
    _warn_unmapped(result.unmapped, result.matched_by_suffix, versions)

    name = lambda test: str(index.tests[test].key)  # noqa: E731
    if as_json:
        print_json({
            "tests": [name(test) for test in natural_tests(index, result.tests)],
            "untested_changed_lines": result.untested,
            "changed_lines": result.changed,
            "lines_hit": {name(test): result.lines_hit[test] for test in natural_tests(index, result.lines_hit)},
            "matched_by_suffix": result.matched_by_suffix,
            "mapped_from_recorded_commits": result.mapped,
            "not_mapped": result.unmapped,
            "root": root,
            "repository": root if in_git else None,
            "changes": described,
        })
        return
    out = console()
    # Plain lines, never wrapped or read as markup: paths stay whole.
    if not changes:
        click.echo(f"no changed lines in {root} ({described})")
        return
    click.echo(f"changes: {described} in {root}")
    for path, commits in sorted(result.mapped.items()):
        click.echo(f"recorded lines of {display_path(path)} read through the diff from "
                   f"commit{'s' if len(commits) != 1 else ''} {', '.join(commit[:12] for commit in commits)}")
    tests = FoldingTable(f"{len(result.tests)} recorded tests executed changed lines",
                         [Col("test", whole=ID), Col("endpoint", whole=ROUTE), Col("changed lines it ran", whole=PATH)])
    for test in natural_tests(index, result.tests):
        hits = "; ".join(
            f"{display_path(path)}: {format_ranges(line_ranges(lines, lines))}"
            for path, lines in sorted(result.lines_hit[test].items())
        )
        tests.add_row(name(test), index.tests[test].endpoint, hits)
    tests.print(out)
    untested = FoldingTable("Changed executable lines no recorded test runs", [Col("file", whole=PATH), Col("lines")])
    for path, lines in sorted(result.untested.items()):
        untested.add_row(display_path(path), format_ranges(line_ranges(lines, lines)))
    untested.print(out)
