"""``requestcov dedup``: tests that add no coverage, and (for Keploy) removing them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import click
from rich.console import Console
from rich.table import Table

from requestcov.analysis.dedup import GROUP_FIELDS, KEEP_POLICIES, DedupResult, find_duplicates
from requestcov.analysis.index import CoverageIndex
from requestcov.commands._common import (
    console,
    fail,
    json_option,
    load_index_or_fail,
    print_json,
    records_source_options,
    user_errors,
)

__all__ = ["command", "parse_by", "result_json", "print_duplicates"]


def parse_by(value: str) -> List[str]:
    """``endpoint,status`` -> ["endpoint", "status"]; ``none`` -> []."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if names in ([], ["none"]):
        return []
    unknown = [name for name in names if name not in GROUP_FIELDS]
    if unknown:
        fail(f"--by: unknown field {unknown[0]!r}; use a comma list of {', '.join(GROUP_FIELDS)}, or none")
    return list(dict.fromkeys(names))


def result_json(index: CoverageIndex, result: DedupResult) -> Dict[str, Any]:
    name = lambda test: str(index.tests[test].key)  # noqa: E731
    return {
        "groups": [
            {
                "keep": name(group.keep), "drop": [name(test) for test in group.drop], "kind": group.kind,
                "similarity": group.similarity, "similarities": group.similarities,
                "endpoint": index.tests[group.keep].endpoint, "status": index.tests[group.keep].status,
            }
            for group in result.groups
        ],
        "kept": result.kept,
        "dropped": result.dropped,
    }


@click.command("dedup")
@records_source_options
@json_option
@click.option("--threshold", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.95, show_default=True,
              help="Jaccard similarity at which two tests count as near-duplicates (1 turns that off).")
@click.option("--keep", "keep_policy", type=click.Choice(KEEP_POLICIES), default="first", show_default=True,
              help="Which test of a group to keep (and the order near-duplicates are grouped in): lowest "
                   "natural id (test-2 before test-10), oldest start, shortest duration, fewest lines; "
                   "ties go to the lowest natural id.")
@click.option("--by", "by", metavar="FIELDS", default="endpoint,status", show_default=True,
              help="Only compare tests equal in these fields (endpoint, status, test-set); 'none' compares all.")
@click.option("--no-subsumed", is_flag=True, help="Do not report tests covered entirely by another one.")
@click.option("--keploy-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Keploy test folder (<dir>/<test-set>/tests/<test-id>.yaml) to remove duplicates from.")
@click.option("--apply", "apply_changes", is_flag=True,
              help="With --keploy-dir: really remove the files (backed up first). Without it: a dry run.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, threshold: float, keep_policy: str,
            by: str, no_subsumed: bool, keploy_dir: Optional[Path], apply_changes: bool) -> None:
    """Find tests whose coverage adds nothing: exact duplicates, tests inside
    another test's coverage (subsumed), and near-duplicates (Jaccard >= threshold)."""
    if apply_changes and keploy_dir is None:
        fail("--apply removes Keploy test files: name their folder with --keploy-dir")
    fields = parse_by(by)
    index = load_index_or_fail(db, from_file)
    result = find_duplicates(index, by=fields, threshold=threshold, keep=keep_policy, subsumed=not no_subsumed)
    data = result_json(index, result)
    removal: Optional[Dict[str, Any]] = None
    if keploy_dir is not None:
        removal = _keploy_removal(index, result, keploy_dir, apply_changes)
        data["keploy"] = removal
    if as_json:
        print_json(data)
        return
    print_duplicates(index, result)
    if removal is not None:
        _print_removal(removal)


def _keploy_removal(index: CoverageIndex, result: DedupResult, keploy_dir: Path,
                    apply_changes: bool) -> Dict[str, Any]:
    from requestcov.analysis.keploy_prune import REMOVE, apply_removal, plan_removal

    with user_errors():
        planned = plan_removal(index, result, keploy_dir)
        backup = apply_removal(planned, keploy_dir, index) if apply_changes else None
    root = keploy_dir.resolve()
    return {
        "applied": apply_changes,
        "backup": str(backup) if backup else None,
        "tests": [
            {
                "test": str(item.key), "kind": item.kind, "duplicate_of": str(index.tests[item.keep].key),
                "action": ("removed" if apply_changes else "would remove") if item.action == REMOVE else item.action,
                "file": str(item.path.relative_to(root)) if item.path is not None else None,
                "only_cover": item.only_cover,
            }
            for item in planned
        ],
        "removed" if apply_changes else "would_remove": sum(item.action == REMOVE for item in planned),
    }


def print_duplicates(index: CoverageIndex, result: DedupResult, out: Optional[Console] = None) -> None:
    """The duplicate groups as a table; ``requestcov run --replay`` ends with
    the same one, so both read alike."""
    out = out or console()
    table = Table(title=f"Duplicate tests: {result.dropped} of {len(index)} can go, {result.kept} stay")
    table.add_column("keep")
    table.add_column("kind")
    table.add_column("similarity", justify="right")
    table.add_column("drop")
    table.add_column("endpoint")
    for group in result.groups:
        info = index.tests[group.keep]
        endpoint = f"{info.endpoint} {info.status}" if info.status is not None else info.endpoint
        table.add_row(
            str(info.key), group.kind, f"{group.similarity:.3f}",
            ", ".join(str(index.tests[test].key) for test in group.drop), endpoint,
        )
    out.print(table)


def _print_removal(removal: Dict[str, Any]) -> None:
    out = console()
    table = Table(title="Keploy test files" + (" removed" if removal["applied"] else ": dry run, nothing removed"))
    table.add_column("test")
    table.add_column("file")
    table.add_column("action")
    for item in removal["tests"]:
        table.add_row(item["test"], item["file"] or "-", item["action"])
    out.print(table)
    if removal["applied"]:
        if removal["backup"]:
            out.print(f"Removed {removal['removed']} test files; backup and removed.json in {removal['backup']}")
        else:
            out.print("Nothing removed.")
    else:
        out.print(f"Would remove {removal['would_remove']} test files; run again with --apply to remove them.")
