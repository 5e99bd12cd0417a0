"""Records tied to the version of the code they ran, end to end: a real app
recorded by the real recorder in a real git repository, then edited so its
lines shift, committed, and asked about with gaps, hot, html and impact."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Dict

import pytest

from requestcov.commands import export, gaps, hot, html, impact
from requestcov.records import FileVersion, RequestRecord
from requestcov.store import SQLiteStore, read_dedup_yaml
from tests.commands.conftest import run, run_json
from tests.support.gitrepo import GitRepo, needs_git
from tests.support.recording import record_wsgi
from tests.support.storefiles import VERSION_2_LINES, a_version_2_store

pytestmark = needs_git

APP = textwrap.dedent("""\
    import helpers
    from requestcov import set_route


    def price(amount):
        if amount > 100:
            return amount * 0.9
        return amount


    def refund(amount):
        return -amount


    def app(environ, start_response):
        path = environ["PATH_INFO"]
        set_route("/refund" if path == "/refund" else "/price")
        if path == "/expensive":
            body = price(150)
        elif path == "/cheap":
            body = price(5)
        else:
            body = helpers.twice(refund(3))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(body).encode()]
""")
#: Line of ``return amount * 0.9`` in APP.
DISCOUNT_LINE = 7
#: Line of ``return -amount``.
REFUND_LINE = 12
HELPERS = "def twice(value):\n    return value * 2\n"
#: Four lines inserted above price(): everything below moves down by 4.
SHIFTED = APP.replace("set_route\n", "set_route\n\n\ndef tax(amount):\n    return 0\n", 1)
SHIFT = 4


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def recorded(tmp_path: Path) -> Dict[str, object]:
    """app.py committed in a repository, helpers.py outside any, three tests recorded."""
    repo = GitRepo(tmp_path / "repo")
    app = repo.write("shop/app.py", APP)
    commit = repo.commit("shop")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "helpers.py").write_text(HELPERS)
    db = tmp_path / "store" / "requestcov.db"
    db.parent.mkdir()
    record_wsgi(db, "app", [app.parent, outside],
                [("get", "/expensive", "expensive"), ("get", "/cheap", "cheap"), ("get", "/refund", "refund")])
    return {"repo": repo, "app": app, "helpers": outside / "helpers.py", "db": str(db), "commit": commit}


def _records(db: str):
    with SQLiteStore(db, read_only=True) as store:
        return {record.test_id: record for record in store.records()}


def test_records_carry_the_hash_and_commit_of_each_file(recorded, tmp_path: Path) -> None:
    app, helpers, repo = recorded["app"], recorded["helpers"], recorded["repo"]
    records = _records(recorded["db"])  # type: ignore[arg-type]
    expensive = records["expensive"]
    assert DISCOUNT_LINE in expensive.lines[str(app)]
    assert expensive.versions[str(app)] == FileVersion(
        sha256=_sha(app), commit=recorded["commit"], repo=str(repo.root))  # type: ignore[union-attr,arg-type]
    refund = records["refund"]
    assert refund.versions[str(helpers)] == FileVersion(sha256=_sha(helpers))  # type: ignore[arg-type]
    # Stored once, shared by every record that ran that version.
    with SQLiteStore(recorded["db"], read_only=True) as store:  # type: ignore[arg-type]
        assert store._connection.execute("SELECT count(*) FROM file_version").fetchone()[0] == 2
    # The JSON export carries them; a dedupData.yaml has none (unknown).
    exported = tmp_path / "records.json"
    run(export.command, "--db", str(recorded["db"]), "--format", "json", "-o", str(exported))
    entry = next(item for item in json.loads(exported.read_text())["requests"] if item["id"] == "expensive")
    assert entry["versions"][str(app)] == {"sha256": _sha(app), "commit": recorded["commit"],  # type: ignore[arg-type]
                                           "repository": str(repo.root)}  # type: ignore[union-attr]
    dedup = tmp_path / "dedupData.yaml"
    run(export.command, "--db", str(recorded["db"]), "-o", str(dedup))
    assert all(record.versions == {} for record in read_dedup_yaml(dedup))


def test_impact_finds_the_tests_of_code_whose_lines_moved_since_recording(recorded) -> None:
    """Recorded at commit 1; commit 2 inserts four lines above price();
    the work tree then edits price()'s discount line. `impact --diff HEAD`
    (commit 2 against the work tree) numbers that line DISCOUNT_LINE + 4,
    which in the recorded version was another line: only carried back
    through the diff from commit 1 does it name the test that ran it."""
    repo, app, db = recorded["repo"], recorded["app"], str(recorded["db"])
    app.write_text(SHIFTED)  # type: ignore[union-attr]
    repo.commit("a tax helper above price()")  # type: ignore[union-attr]
    app.write_text(SHIFTED.replace("amount * 0.9", "amount * 0.8"))  # type: ignore[union-attr]
    data = run_json(impact.command, "--db", db, "--diff", "HEAD")
    assert data["tests"] == ["expensive"]
    assert data["lines_hit"] == {"expensive": {str(app): [DISCOUNT_LINE + SHIFT]}}
    assert data["untested_changed_lines"] == {}
    assert data["mapped_from_recorded_commits"] == {str(app): [recorded["commit"]]}
    assert data["repository"] == str(repo.root)  # type: ignore[union-attr]
    # Between commits too, and with the edit committed: the inserted helper is
    # new code no test ran; the discount line is still the expensive test's.
    repo.commit("a smaller discount")  # type: ignore[union-attr]
    data = run_json(impact.command, "--db", db, "--diff", f"{recorded['commit']}..HEAD")
    assert data["tests"] == ["expensive"]
    assert data["untested_changed_lines"] == {str(app): [5, 6]}
    table = run(impact.command, "--db", db, "--diff", "HEAD~2..HEAD").stdout
    assert f"in {repo.root}" in table and "expensive" in table and "cheap" not in table  # type: ignore[union-attr]


def test_impact_without_versions_compares_the_recorded_lines_as_they_are(recorded, tmp_path: Path) -> None:
    """The same change read from a store without versions (an older schema)
    lands on the wrong line: what the versions are for."""
    repo, app = recorded["repo"], recorded["app"]
    unversioned = tmp_path / "unversioned.db"
    with SQLiteStore(unversioned) as store:
        store.write([RequestRecord(test_id=record.test_id, lines=record.lines)
                     for record in _records(recorded["db"]).values()])  # type: ignore[arg-type]
    app.write_text(SHIFTED)  # type: ignore[union-attr]
    repo.commit("shift")  # type: ignore[union-attr]
    app.write_text(SHIFTED.replace("amount * 0.9", "amount * 0.8"))  # type: ignore[union-attr]
    assert run_json(impact.command, "--db", str(unversioned), "--diff", "HEAD")["tests"] != ["expensive"]


def test_impact_names_the_repository_it_used_and_refuses_what_is_no_diff(recorded, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, db = recorded["repo"], str(recorded["db"])
    elsewhere = GitRepo(tmp_path / "elsewhere")
    elsewhere.write("x.py", "x = 1\n")
    elsewhere.commit("x")
    monkeypatch.chdir(elsewhere.root)
    result = run(impact.command, "--db", db, "--diff", "HEAD")
    assert result.stdout.strip() == f"no changed lines in {repo.root} (git diff HEAD)"  # type: ignore[union-attr]
    assert f"the current folder is in the repository {elsewhere.root}" in result.stderr
    assert f"comparing {repo.root}" in result.stderr  # type: ignore[union-attr]
    # --repo chooses: the current one, deliberately.
    chosen = run(impact.command, "--db", db, "--diff", "HEAD", "--repo", str(elsewhere.root))
    assert chosen.stdout.strip() == f"no changed lines in {elsewhere.root} (git diff HEAD)"
    assert chosen.stderr == ""
    not_a_diff = run(impact.command, "--db", db, "--diff-file", str(recorded["app"]), expect=1)
    assert "is not a unified diff" in not_a_diff.stderr and "Traceback" not in not_a_diff.stderr
    empty = tmp_path / "empty.patch"
    empty.write_text("")
    assert run(impact.command, "--db", db, "--diff-file", str(empty)).stdout.startswith("no changed lines in")


def test_gaps_hot_and_html_warn_about_a_file_changed_since_recording(recorded, tmp_path: Path) -> None:
    app, db = recorded["app"], str(recorded["db"])
    before = run_json(gaps.command, "--db", db)
    assert str(app) in before["files"] and before["changed_since_recording"] == []
    app.write_text(SHIFTED)  # type: ignore[union-attr]
    result = run(gaps.command, "--db", db, "--json")
    warning = "shop/app.py changed since it was recorded (all 3 records ran another version): not analysed"
    assert warning in result.stderr.replace(str(Path(str(app)).parent.parent) + "/", "")
    data = run_json(gaps.command, "--db", db)
    assert str(app) not in data["files"] and str(recorded["helpers"]) in data["files"]
    assert data["changed_since_recording"] == [
        {"path": str(app), "missing": False, "records": 3, "other_version": 3}]
    hot_result = run(hot.command, "--db", db, "--rare", "0.6")
    assert "changed since it was recorded" in hot_result.stderr
    assert "(changed since recorded)" in " ".join(hot_result.stdout.split())
    html_result = run(html.command, "--db", db, "-o", str(tmp_path / "html"))
    assert "changed since it was recorded" in html_result.stderr and "left out of the report" in html_result.stderr

    # Recorded again at the new version: counted from those records only.
    record_wsgi(Path(db), "app", [app.parent, recorded["helpers"].parent],  # type: ignore[union-attr]
                [("get", "/cheap", "cheap-again")])
    result = run(gaps.command, "--db", db, "--json")
    assert "(3 of 4 records ran another version): only the 1 record of it as it is now is counted" in result.stderr
    item = run_json(gaps.command, "--db", db)["files"][str(app)]
    # Only /cheap ran at the new version: the discount line and refund()'s body are missing.
    assert DISCOUNT_LINE + SHIFT in item["missing"] and REFUND_LINE + SHIFT in item["missing"]
    assert DISCOUNT_LINE + SHIFT + 1 not in item["missing"]


def test_a_process_that_reloads_edited_code_records_the_new_hash(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "helpers.py").write_text(HELPERS)
    (folder / "app.py").write_text(APP)
    db = tmp_path / "requestcov.db"
    record_wsgi(db, "app", [folder], [
        ("get", "/expensive", "old"), ("edit", str(folder / "app.py"), SHIFTED), ("get", "/expensive", "new"),
    ])
    records = _records(str(db))
    app = str(folder / "app.py")
    assert records["old"].versions[app] != records["new"].versions[app]
    assert records["new"].versions[app] == FileVersion(sha256=_sha(folder / "app.py"))
    assert records["new"].lines[app] == [line + SHIFT for line in records["old"].lines[app]]


def test_a_store_from_before_file_versions_still_opens_with_versions_unknown(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    a_version_2_store(db)
    with SQLiteStore(db, read_only=True) as store:
        [record] = store.records()
    assert record.lines == VERSION_2_LINES and record.versions == {}
    with SQLiteStore(db) as store:  # a writer migrates it
        [migrated] = store.records()
        assert migrated.versions == {}
        store.write([RequestRecord(test_id="new", lines={"/app/views.py": [1]},
                                   versions={"/app/views.py": FileVersion(sha256="ab" * 32)})])
        assert store.records()[1].versions == {"/app/views.py": FileVersion(sha256="ab" * 32)}
    # Versions unknown: gaps counts the file as it is (here: gone), as before.
    assert "file no longer exists" in run(gaps.command, "--db", str(db)).stderr


def test_with_every_version_current_gaps_needs_no_filter(recorded) -> None:
    """gaps reads the store's index unfiltered (from rows and packed sets)
    only when the filter would change nothing: the same index either way."""
    from requestcov.analysis.versions import RecordedVersions
    from requestcov.commands._common import load_index_or_fail, recorded_versions_current

    db, app = str(recorded["db"]), recorded["app"]
    with SQLiteStore(db, read_only=True) as store:
        assert str(app) in {path for path, _ in store.recorded_versions()}
    versions = RecordedVersions()
    assert recorded_versions_current(db, versions)
    filtered = RecordedVersions()
    expected = load_index_or_fail(db, None, fold=False, through=filtered.current_only_keyed)
    got = load_index_or_fail(db, None, fold=False)
    assert (got.tests, got.files, got.signatures) == (expected.tests, expected.files, expected.signatures)
    assert got.covered_lines_by_file() == expected.covered_lines_by_file()
    assert filtered.changed() == versions.changed() == []
    app.write_text(SHIFTED)  # type: ignore[union-attr]
    assert not recorded_versions_current(db, RecordedVersions())
