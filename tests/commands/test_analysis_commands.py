"""minimize, gaps, hot and impact run end to end on real stores and files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from requestcov.commands import gaps, hot, impact, minimize
from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore, write_dedup_yaml
from tests.commands.conftest import run, run_json
from tests.support.setcover_oracle import brute_force_minimum

# -- minimize ---------------------------------------------------------------

def _trap_store(tmp_path: Path) -> str:
    """Greedy takes the three columns; the two rows are optimal."""
    sets = {"row-1": range(1, 8), "row-2": range(8, 15), "column-2": [1, 8], "column-4": [2, 3, 9, 10],
            "column-8": [4, 5, 6, 7, 11, 12, 13, 14]}
    path = tmp_path / "trap.db"
    with SQLiteStore(path) as opened:
        opened.write([RequestRecord(test_id=name, lines={"/x.py": list(lines)}) for name, lines in sets.items()])
    return str(path)


def test_minimize_greedy_json_reports_the_lower_bound(tmp_path: Path):
    data = run_json(minimize.command, "--db", _trap_store(tmp_path))
    assert sorted(data["keep"]) == ["column-2", "column-4", "column-8"]
    assert sorted(data["drop"]) == ["row-1", "row-2"]
    assert data["optimal"] is False
    assert data["lower_bound"] == 2


def test_minimize_exact_finds_the_optimum(tmp_path: Path):
    pytest.importorskip("scipy")
    store = _trap_store(tmp_path)
    data = run_json(minimize.command, "--db", store, "--exact", "--time-limit", "10")
    assert sorted(data["keep"]) == ["row-1", "row-2"]
    assert data["optimal"] is True and data["lower_bound"] == 2
    table = run(minimize.command, "--db", store, "--exact").stdout
    assert "Keep 2 of 5 tests" in table and "optimal" in table


def test_minimize_table_and_dedup_yaml(dedup_yaml: str):
    data = run_json(minimize.command, "--from", dedup_yaml)
    # {2, 4} from t1, {8, 9} from t4, {2, 3} from set-a/test-1.
    assert data["keep"] == ["t1", "t4", "set-a/test-1"]
    assert data["optimal"] is True
    table = run(minimize.command, "--from", dedup_yaml, "--show-dropped").stdout
    assert "Keep 3 of 7 tests" in table and "set-b/test-1" in table


def test_minimize_without_scipy_says_how_to_get_it(tmp_path: Path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("no scipy here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_scipy)
    result = run(minimize.command, "--db", _trap_store(tmp_path), "--exact", expect=1)
    assert "pip install requestcov[exact]" in result.stderr


# -- gaps -------------------------------------------------------------------

def test_gaps_json_and_table(store: str, app_file: str, tmp_path: Path, monkeypatch):
    data = run_json(gaps.command, "--db", store)
    report = data["files"][app_file]
    # Statements 1-4, 7-10, 13-14; the suite ran 2, 3, 4, 8, 9.
    assert report["missing"] == [1, 7, 10, 13, 14]
    assert report["percent"] == pytest.approx(50.0)
    assert data["percent"] == pytest.approx(50.0)
    assert [function["name"] for function in report["functions_never_entered"]] == ["admin"]
    monkeypatch.chdir(tmp_path)
    table = run(gaps.command, "--db", store).stdout
    # 10 and 13-14 are one run: 11-12 are blank, not statements.
    assert os.path.join("app", "views.py") in table and "1, 7, 10-14" in table and "admin (13)" in table


def test_gaps_warns_about_files_that_are_gone(tmp_path: Path, app_file: str):
    path = tmp_path / "gone.yaml"
    write_dedup_yaml([RequestRecord(test_id="a", lines={app_file: [2], str(tmp_path / "deleted.py"): [1]})], path)
    result = run(gaps.command, "--from", str(path), "--json")
    assert "warning: skipped" in result.stderr and "deleted.py" in result.stderr
    assert "file no longer exists" in result.stderr
    import json

    assert list(json.loads(result.stdout)["files"]) == [app_file]


def test_gaps_counts_startup_code_apart_and_never_as_missed(tmp_path: Path, app_file: str):
    path = tmp_path / "s.db"
    with SQLiteStore(path) as opened:
        opened.write([
            RequestRecord(test_id="a", lines={app_file: [2, 4]}),
            RequestRecord(test_id="startup", kind="startup", lines={app_file: [1, 7, 13]}),
            # Code run for requests nobody recorded counts as nothing.
            RequestRecord(test_id="served-unrecorded", kind="startup", start=5.0, lines={app_file: [8, 9]}),
        ])
    data = run_json(gaps.command, "--db", str(path))
    with_startup = data["files"][app_file]
    assert with_startup["missing"] == [3, 8, 9, 10, 14]
    assert (with_startup["run_by_requests"], with_startup["startup_only"], with_startup["missed"]) == (2, 3, 5)
    assert data["percent"] == pytest.approx(50.0) and data["percent_by_requests"] == pytest.approx(20.0)
    requests_only = run_json(gaps.command, "--db", str(path), "--no-startup")
    assert requests_only["files"][app_file]["missing"] == [3, 8, 9, 10, 14]
    assert requests_only["percent"] == pytest.approx(20.0) and requests_only["startup_counted"] is False
    table = run(gaps.command, "--db", str(path)).stdout
    assert "50.0% of 10 statements run (2 by requests, 3 only at start-up), 5 missed" in table
    table = run(gaps.command, "--db", str(path), "--no-startup").stdout
    assert "20.0% of 10 statements run by requests (3 more only at start-up), 5 missed" in table


# -- hot --------------------------------------------------------------------

def test_hot_json_and_table(store: str):
    data = run_json(hot.command, "--db", store, "--rare", "0.3")
    by_endpoint = {item["endpoint"]: item for item in data["endpoints"]}
    assert data["endpoints"][0]["endpoint"] == "GET /items"
    get = by_endpoint["GET /items"]
    assert get["requests"] == 5
    assert [(path["count"], path["ids"]) for path in get["paths"]] == [
        (3, ["t1", "t2", "t5"]), (2, ["set-a/test-1", "set-b/test-1"])]
    # Line 3 ran in 2 of 5 GET requests (40%): not rare at 30%.
    assert get["rare_lines"] == {}
    post = by_endpoint["POST /items"]
    assert post["requests"] == 2 and [path["count"] for path in post["paths"]] == [1, 1]
    table = run(hot.command, "--db", store).stdout
    assert "GET /items" in table and "3: t1, t2, t5" in table


def test_hot_rare_lines(store: str, app_file: str):
    data = run_json(hot.command, "--db", store, "--rare", "0.5")
    get = next(item for item in data["endpoints"] if item["endpoint"] == "GET /items")
    assert get["rare_lines"] == {app_file: [3]}


# -- impact -----------------------------------------------------------------

def _diff_file(tmp_path: Path, app_file: str) -> str:
    relative = os.path.relpath(app_file, tmp_path)
    diff = tmp_path / "change.patch"
    diff.write_text(
        f"--- a/{relative}\n+++ b/{relative}\n"
        "@@ -3 +3 @@\n-        return \"more\"\n+        return \"more!\"\n"
        "@@ -14 +14 @@\n-    return \"never\"\n+    return \"still never\"\n"
    )
    return str(diff)


def test_impact_from_a_diff_file(tmp_path: Path, store: str, app_file: str):
    data = run_json(impact.command, "--db", store, "--diff-file", _diff_file(tmp_path, app_file),
                    "--repo", str(tmp_path))
    assert data["tests"] == ["set-a/test-1", "set-b/test-1"]
    assert data["untested_changed_lines"] == {app_file: [14]}
    table = run(impact.command, "--db", store, "--diff-file", _diff_file(tmp_path, app_file),
                "--repo", str(tmp_path)).stdout
    assert "2 recorded tests executed changed lines" in table and "set-b/test-1" in table


def test_impact_from_git(tmp_path: Path, store: str, app_file: str):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("needs git")
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    repo = Path(app_file).parent
    for arguments in (["init", "-q"], ["add", "views.py"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", *arguments], cwd=repo, check=True, capture_output=True, env=environment)
    source = Path(app_file).read_text().replace('"missing"', '"missing!"').replace('"created"', '"made"')
    Path(app_file).write_text(source)
    # The repository is found from the recorded files; t4 ran line 9, no test line 10.
    data = run_json(impact.command, "--db", store, "--diff", "HEAD")
    assert data["tests"] == ["t4"]
    assert data["untested_changed_lines"] == {app_file: [10]}
    result = run(impact.command, "--db", store, "--diff", "no-such-revision", expect=1)
    assert "\nError: git diff" in "\n" + result.stderr and "Traceback" not in result.output


def test_impact_needs_exactly_one_source_of_changes(store: str):
    assert "exactly one" in run(impact.command, "--db", store, expect=1).stderr


def test_commands_are_registered_on_the_main_group():
    from requestcov.cli import main

    for name in ("dedup", "minimize", "gaps", "hot", "impact"):
        assert name in main.commands


def test_hot_rare_ranges_span_only_rare_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rare lines 2, 4, 8 and 9 of a file whose statements are 1-4 and 7-9:
    2 and 4 are no run (3 ran often), 8-9 are; a file that cannot be read
    makes runs of consecutive numbers only."""
    monkeypatch.setenv("COLUMNS", "400")  # a long temporary path folds no line
    app = tmp_path / "views.py"
    app.write_text("a = 1\nb = 2\nc = 3\nd = 4\n\n\ne = 5\nf = 6\ng = 7\n")
    gone = str(tmp_path / "gone.py")
    often = [1, 3, 7]
    records = [RequestRecord(test_id=f"often-{number}", method="GET", path="/x", route="/x", status=200,
                             lines={str(app): often, gone: [1]}) for number in range(19)]
    records.append(RequestRecord(test_id="rare", method="GET", path="/x", route="/x", status=200,
                                 lines={str(app): often + [2, 4, 8, 9], gone: [1, 5, 6, 9]}))
    db = tmp_path / "store.db"
    with SQLiteStore(db) as store:
        store.write(records)
    table = run(hot.command, "--db", str(db), "--rare", "0.1").stdout
    flat = " ".join(table.split())
    assert "views.py: 2, 4, 8-9" in flat, table
    assert "gone.py: 5-6, 9" in flat, table


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(st.lists(st.frozensets(st.integers(1, 10), min_size=1, max_size=5), min_size=1, max_size=6))
def test_minimize_command_known_answers_on_random_suites(sets):
    """Through the command line, on a real dedupData.yaml: greedy keeps a
    cover of everything and says optimal only when it is; --exact keeps a
    cover of the brute-force optimum's size and says so."""
    import json
    import tempfile

    pytest.importorskip("scipy")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "dedupData.yaml")
        write_dedup_yaml([RequestRecord(test_id=f"t{number}", lines={"/x.py": sorted(lines)})
                          for number, lines in enumerate(sets)], path)
        optimum = brute_force_minimum(sets)
        for extra in ((), ("--exact",)):
            data = json.loads(run(minimize.command, "--from", path, "--json", *extra).stdout)
            kept = frozenset().union(*(sets[int(name[1:])] for name in data["keep"]))
            assert kept == frozenset().union(*sets)
            assert data["optimal"] == (len(data["keep"]) == data["lower_bound"])
            assert data["verdict"] == ("optimal" if data["optimal"] else f"best found, lower bound {data['lower_bound']}")
            if data["optimal"]:
                assert len(data["keep"]) == optimum
            if extra:
                assert data["optimal"] and len(data["keep"]) == optimum
