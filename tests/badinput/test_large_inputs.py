"""Large inputs stay bounded: a dedupData.yaml of tens of megabytes is read in
flat memory, and a request running 50,000 lines goes through the recorder, the
store, the exports and the analyses quickly. The command line turns a bad file
into one line and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore, read_dedup_yaml, write_dedup_yaml
from requestcov.store.coveragepy import write_coverage_data
from tests.support.matrix import heavy
from tests.support.servers import REPOSITORY

#: Size of the generated dedupData.yaml (REQUESTCOV_LOAD_FULL=1: the 200 MB of the promise).
#: 20 MB is plenty to tell flat from whole-document reading, which would take
#: about a gigabyte for it, at a fifth of the time per interpreter.
BIG_YAML_MEGABYTES = 200 if os.environ.get("REQUESTCOV_LOAD_FULL") == "1" else 20
LINE_COUNT = 50_000


def _environment() -> dict:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REQUESTCOV_")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
    return environment


def _cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "requestcov.cli", *arguments], capture_output=True, text=True,
                          timeout=120, cwd=str(cwd), env=_environment())


def _generate_dedup_yaml(path: Path, megabytes: int) -> int:
    """Tests of 800 lines in two files each, written as Keploy writes them."""
    block = "".join(f"    - {number}\n" for number in range(1, 401))
    count = 0
    written = 0
    with path.open("w") as output:
        while written < megabytes * 1_000_000:
            entry = (f"- id: test-{count}\n  testSetId: test-set-{count % 7}\n  executedLinesByFile:\n"
                     f"    /app/module{count % 50}.py:\n{block}    /app/common.py:\n{block}")
            output.write(entry)
            written += len(entry)
            count += 1
    return count


def _peak_rss_mb(code: str) -> "tuple[float, str]":
    """Run ``code`` in a fresh interpreter; its peak RSS in MB and its output."""
    wrapper = code + "\nimport resource; print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    completed = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=120,
                               env=_environment())
    assert completed.returncode == 0, completed.stderr
    peak = next(line for line in completed.stdout.splitlines() if line.startswith("PEAK"))
    return int(peak.split()[1]) / 1024.0, completed.stdout


@pytest.mark.slow
@heavy
def test_a_huge_dedup_yaml_is_read_in_flat_memory(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    expected = _generate_dedup_yaml(source, BIG_YAML_MEGABYTES)
    baseline, _ = _peak_rss_mb("from requestcov.store import read_dedup_yaml")
    started = time.monotonic()
    peak, output = _peak_rss_mb(textwrap.dedent(f"""
        from requestcov.store import read_dedup_yaml
        count = 0
        for record in read_dedup_yaml({str(source)!r}):
            assert sum(len(lines) for lines in record.lines.values()) == 800
            count += 1
        print('COUNT', count)
    """))
    elapsed = time.monotonic() - started
    assert f"COUNT {expected}" in output
    # Building the whole document first (yaml.compose) took gigabytes here.
    assert peak - baseline < 40, (peak, baseline)
    assert elapsed < 90, elapsed



def _generate_nested_dedup_yaml(path: Path, megabytes: int) -> int:
    """The same tests in Keploy Enterprise's nested form, their lines unsorted."""
    block = "".join(f"      - {number}\n" for number in range(400, 0, -1))
    count = 0
    written = 0
    with path.open("w") as output:
        for test_set in range(7):
            output.write(f"test-set-{test_set}:\n")
            for _ in range(megabytes * 1_000_000 // 7 // (2 * len(block))):
                entry = f"  test-{count}:\n    /app/module{count % 50}.py:\n{block}    /app/common.py:\n{block}"
                output.write(entry)
                written += len(entry)
                count += 1
    return count


@pytest.mark.slow
@heavy
def test_a_large_nested_dedup_yaml_is_read_and_rewritten_in_flat_memory(tmp_path: Path) -> None:
    # 6 MB: a whole-document read would take hundreds of megabytes for it.
    source, rewritten = tmp_path / "dedupData.yaml", tmp_path / "nested.yaml"
    expected = _generate_nested_dedup_yaml(source, 6)
    baseline, _ = _peak_rss_mb("from requestcov.store import read_dedup_yaml, write_dedup_yaml")
    peak, output = _peak_rss_mb(textwrap.dedent(f"""
        from requestcov.store import read_dedup_yaml, write_dedup_yaml
        print('COUNT', write_dedup_yaml(read_dedup_yaml({str(source)!r}), {str(rewritten)!r}, "nested"))
    """))
    assert f"COUNT {expected}" in output
    assert peak - baseline < 40, (peak, baseline)
    first = next(iter(read_dedup_yaml(rewritten)))
    assert (first.test_set, first.test_id) == ("test-set-0", "test-0")
    assert first.lines == {"/app/common.py": list(range(1, 401)), "/app/module0.py": list(range(1, 401))}

def test_the_command_line_reports_a_bad_file_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    good_tests = "".join(f"- id: test-{number}\n  executedLinesByFile:\n    /a.py: [1, 2]\n" for number in range(3))
    bad.write_text(good_tests + "- id: test-9\n  executedLinesByFile:\n    /a.py: [one]\n")
    for arguments in (["report", "--from", str(bad)], ["dedup", "--from", str(bad)],
                      ["html", "--from", str(bad), "-o", str(tmp_path / "html")]):
        completed = _cli(*arguments, cwd=tmp_path)
        assert completed.returncode == 1, completed
        assert completed.stderr.strip().splitlines() == [f"Error: {bad}:12: 'one' is not a line number"]
        assert "Traceback" not in completed.stdout + completed.stderr
    assert not (tmp_path / "html").exists()
    missing = _cli("report", "--from", str(tmp_path / "absent.yaml"), cwd=tmp_path)
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1, missing


_BIG_REQUEST_APP = '''
import requestcov
import wide


def app(environ, start_response):
    total = wide.run()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(total).encode()]


recorded = requestcov.WSGIMiddleware(app, source=[{folder!r}], db={db!r})
environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/wide", "SERVER_NAME": "x", "SERVER_PORT": "80",
           "wsgi.url_scheme": "http", "HTTP_KEPLOY_TEST_ID": "wide"}}
body = b"".join(recorded(environ, lambda status, headers, exc_info=None: None))
assert body == b"{count}", body
'''


@pytest.mark.slow
@heavy
def test_a_request_running_50000_lines_is_recorded_read_exported_and_analysed(tmp_path: Path) -> None:
    app_folder = tmp_path / "app"
    app_folder.mkdir()
    # 500 functions of 100 lines: CPython 3.12's LINE events cost time linear
    # in a function's length, so one 50,000-line function takes seconds there
    # whatever the tool (coverage.py's sys.monitoring core included).
    functions = LINE_COUNT // 100
    parts = [
        f"def part{index}(total):\n" + "".join(f"    total += {number % 7}\n" for number in range(99))
        + "    return total\n"
        for index in range(functions)
    ]
    parts.append("def run():\n    total = 0\n" + "".join(f"    total = part{index}(total)\n" for index in range(functions))
                 + "    return total\n")
    (app_folder / "wide.py").write_text("\n\n".join(parts))
    db = tmp_path / "requestcov.db"
    script = app_folder / "main.py"
    expected_total = sum(number % 7 for number in range(99)) * (LINE_COUNT // 100)
    script.write_text(_BIG_REQUEST_APP.format(folder=str(app_folder), db=str(db), count=expected_total))
    started = time.monotonic()
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                               cwd=str(app_folder), env=_environment())
    assert completed.returncode == 0, completed.stderr
    recorded_in = time.monotonic() - started

    wide = str((app_folder / "wide.py").resolve())
    started = time.monotonic()
    with SQLiteStore(db, create=False) as store:
        (record,) = store.records()
    assert record.test_id == "wide"
    # Every function body, and run(): "total = 0", one call a function, "return".
    assert len(record.lines[wide]) == LINE_COUNT + LINE_COUNT // 100 + 2
    exported = tmp_path / "dedupData.yaml"
    assert write_dedup_yaml([record, RequestRecord(test_id="copy", lines=record.lines)], exported) == 2
    back = list(read_dedup_yaml(exported))
    assert [item.lines for item in back] == [record.lines, record.lines]
    assert write_coverage_data([record], tmp_path / ".coverage") == 1
    round_trip = time.monotonic() - started

    started = time.monotonic()
    dedup = _cli("dedup", "--db", str(db), "--json", cwd=tmp_path)
    assert dedup.returncode == 0, dedup.stderr
    gaps = _cli("gaps", "--db", str(db), "--json", cwd=tmp_path)
    assert gaps.returncode == 0, gaps.stderr
    report = json.loads(_cli("report", "--db", str(db), "--json", cwd=tmp_path).stdout)
    analysed = time.monotonic() - started
    assert json.dumps(report).count("wide") >= 1
    assert recorded_in < 30 and round_trip < 10 and analysed < 45, (recorded_in, round_trip, analysed)
