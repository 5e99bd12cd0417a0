"""``requestcov dedup``: tests that add no coverage, and (for Keploy) removing them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional

import click
from rich.console import Console

from requestcov.analysis.dedup import (
    EXACT,
    GROUP_FIELDS,
    KEEP_POLICIES,
    NEAR,
    SUBSUMED,
    DedupResult,
    DuplicateGroup,
    find_duplicates,
)
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
from requestcov.report.terminal import ID, PATH, ROUTE, Col, FoldingTable, Whole

__all__ = ["command", "parse_by", "ordered_groups", "result_json", "print_duplicates"]


def parse_by(value: str) -> List[str]:
    """``endpoint,status`` -> ["endpoint", "status"]; ``none`` -> []."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if names in ([], ["none"]):
        return []
    unknown = [name for name in names if name not in GROUP_FIELDS]
    if unknown:
        fail(f"--by: unknown field {unknown[0]!r}; use a comma list of {', '.join(GROUP_FIELDS)}, or none")
    return list(dict.fromkeys(names))


def _label(index: CoverageIndex, test: int) -> str:
    """A test's endpoint and status, as the tables print them."""
    info = index.tests[test]
    return f"{info.endpoint} {info.status}" if info.status is not None else info.endpoint


def ordered_groups(index: CoverageIndex, result: DedupResult) -> List[DuplicateGroup]:
    """The groups in the natural order of their kept ids (exact, subsumed,
    near for one kept test), each group's dropped tests in natural order with
    their similarities: the same listing on every run, whatever order the
    store holds the records in."""
    ordered = []
    for group in result.groups:
        similarity_of = dict(zip(group.drop, group.similarities))
        drop = natural_tests(index, group.drop)
        ordered.append(replace(group, drop=drop, similarities=[similarity_of[test] for test in drop]))
    kind_order = {kind: number for number, kind in enumerate((EXACT, SUBSUMED, NEAR))}
    natural = index.natural_keys()
    return sorted(ordered, key=lambda group: (natural[group.keep], group.keep,
                                              kind_order.get(group.kind, len(kind_order))))


def result_json(index: CoverageIndex, result: DedupResult,
                groups: Optional[List[DuplicateGroup]] = None) -> Dict[str, Any]:
    """``groups``: :func:`ordered_groups` of the result, when already made."""
    name = lambda test: str(index.tests[test].key)  # noqa: E731
    return {
        "groups": [
            {
                "keep": name(group.keep), "drop": [name(test) for test in group.drop], "kind": group.kind,
                "similarity": group.similarity, "similarities": group.similarities,
                "endpoint": index.tests[group.keep].endpoint, "status": index.tests[group.keep].status,
                # Each dropped test's own endpoint and status: with --by none
                # they may differ from the kept test's.
                "dropped_tests": [
                    {"id": name(test), "endpoint": index.tests[test].endpoint, "status": index.tests[test].status,
                     "similarity": similarity}
                    for test, similarity in zip(group.drop, group.similarities)
                ],
            }
            for group in (ordered_groups(index, result) if groups is None else groups)
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
@click.option("--keploy-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write Keploy's duplicates.yaml here (test set -> duplicate test ids), "
                   "for keploy dedup --rm.")
def command(db: Optional[str], from_file: Optional[str], as_json: bool, threshold: float, keep_policy: str,
            by: str, no_subsumed: bool, keploy_dir: Optional[Path], apply_changes: bool,
            keploy_out: Optional[Path]) -> None:
    """Find tests whose coverage adds nothing: exact duplicates, tests inside
    another test's coverage (subsumed), and near-duplicates (Jaccard >= threshold)."""
    if apply_changes and keploy_dir is None:
        fail("--apply removes Keploy test files: name their folder with --keploy-dir")
    fields = parse_by(by)
    index = load_index_or_fail(db, from_file)
    result = find_duplicates(index, by=fields, threshold=threshold, keep=keep_policy, subsumed=not no_subsumed)
    groups = ordered_groups(index, result)
    removal: Optional[Dict[str, Any]] = None
    if keploy_dir is not None:
        removal = _keploy_removal(index, result, keploy_dir, apply_changes)
    written, written_to = None, None
    if keploy_out is not None:
        written = _write_keploy_duplicates(index, result, keploy_out)
        written_to = str(keploy_out.resolve())
    if as_json:
        # Made only here: for 100,000 tests the listing takes most of a second.
        data = result_json(index, result, groups)
        if removal is not None:
            data["keploy"] = removal
        if written_to is not None:
            data["keploy_out"] = written_to
        print_json(data)
        return
    print_duplicates(index, result, groups=groups)
    if removal is not None:
        _print_removal(removal)
    if written is not None:
        click.echo(f"wrote {written} duplicate test{'s' if written != 1 else ''} to {written_to}", err=True)


def _write_keploy_duplicates(index: CoverageIndex, result: DedupResult, output: Path) -> int:
    from requestcov.store.keploy import write_duplicates_yaml

    dropped = natural_tests(index, sorted({test for group in result.groups for test in group.drop}))
    keys = [index.tests[test].key for test in dropped]
    written = 0
    with user_errors():
        written = write_duplicates_yaml(((key.test_set, key.test_id) for key in keys), output)
    return written


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
            for item in sorted(planned, key=lambda item: (item.key.natural, item.test))
        ],
        "removed" if apply_changes else "would_remove": sum(item.action == REMOVE for item in planned),
    }


def print_duplicates(index: CoverageIndex, result: DedupResult, out: Optional[Console] = None,
                     groups: Optional[List[DuplicateGroup]] = None) -> None:
    """The duplicate groups as a table; ``requestcov run --replay`` ends with
    the same one, so both read alike. A dropped test whose endpoint or status
    differs from the kept test's (``--by none``) is followed by its own."""
    out = out or console()
    table = FoldingTable(f"Duplicate tests: {result.dropped} of {len(index)} can go, {result.kept} stay", [
        Col("keep", whole=ID), Col("kind"), Col("drop", whole=ID), Col("endpoint", whole=ROUTE),
    ])
    for group in ordered_groups(index, result) if groups is None else groups:
        kept_label = _label(index, group.keep)
        drops, ids = [], []
        for test in group.drop:
            label = _label(index, test)
            ids.append(f"{index.tests[test].key},")
            drops.append(str(index.tests[test].key) + (f" ({label})" if label != kept_label else ""))
        kind = group.kind if group.kind == EXACT else f"{group.kind} {group.similarity:.3f}"
        table.add_row(str(index.tests[group.keep].key), kind, Whole(", ".join(drops), ids), kept_label)
    table.print(out)


def _print_removal(removal: Dict[str, Any]) -> None:
    out = console()
    table = FoldingTable("Keploy test files" + (" removed" if removal["applied"] else ": dry run, nothing removed"),
                         [Col("test", whole=ID), Col("file", whole=PATH), Col("action")])
    for item in removal["tests"]:
        table.add_row(item["test"], item["file"] or "-", item["action"])
    table.print(out)
    if removal["applied"]:
        if removal["backup"]:
            out.print(f"Removed {removal['removed']} test files; backup and removed.json in {removal['backup']}")
        else:
            out.print("Nothing removed.")
    else:
        out.print(f"Would remove {removal['would_remove']} test files; run again with --apply to remove them.")
