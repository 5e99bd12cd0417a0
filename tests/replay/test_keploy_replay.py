"""Replaying Keploy test sets against a real recorded server."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import yaml

from click.testing import CliRunner

from requestcov.commands.replay import command
from requestcov.replay import replay_directory
from tests.replay.conftest import ShopServer

SHOP_FILE = str(Path(__file__).resolve().parent / "app" / "shop.py")


def keploy_test(name: str, method: str, url: str, status: int, body: str = "",
                headers: Optional[Dict[str, str]] = None) -> str:
    """A test file as Keploy writes it (trimmed of the fields a replay ignores)."""
    document = {
        "version": "api.keploy.io/v1beta1",
        "kind": "Http",
        "name": name,
        "spec": {
            "metadata": {},
            "req": {
                "method": method, "proto_major": 1, "proto_minor": 1, "url": url,
                "header": headers or {"Accept": "*/*"}, "body": body,
                "timestamp": "2024-05-01T10:00:00Z",
            },
            "resp": {"status_code": status, "header": {"Content-Type": "application/json"}, "body": ""},
            "objects": [],
            "created": 1714557600,
        },
    }
    return yaml.safe_dump(document, indent=4, sort_keys=False)


def write_test(folder: Path, test_set: str, name: str, text: str) -> None:
    tests = folder / test_set / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / f"{name}.yaml").write_text(text)


def make_recordings(folder: Path) -> Path:
    keploy = folder / "keploy"
    write_test(keploy, "test-set-0", "test-1", keploy_test("test-1", "GET", "http://localhost:8080/hello", 200))
    write_test(keploy, "test-set-0", "test-2", keploy_test(
        "test-2", "POST", "http://localhost:8080/cart", 200,
        body='[{"price": 2.5, "quantity": 2}]',
        headers={"Content-Type": "application/json", "Content-Length": "999", "Host": "localhost:8080"},
    ))
    write_test(keploy, "test-set-0", "test-10", keploy_test(
        "test-10", "GET", "http://localhost:8080/users/7?full=yes", 200,
        headers={"KEPLOY-TEST-ID": "forged"}))
    # The app now answers 404 for this one: a mismatch to report, not a reason to stop.
    write_test(keploy, "test-set-1", "test-1", keploy_test("test-1", "GET", "http://localhost:8080/users/500", 200))
    write_test(keploy, "test-set-1", "test-2", keploy_test("test-2", "GET", "http://localhost:8080/old-home", 302))
    write_test(keploy, "test-set-1", "test-3", "kind: Http\nname: test-3\nspec: [unclosed\n")
    (keploy / "test-set-1" / "mocks.yaml").write_text("not: a test\n")
    return keploy


def test_keploy_replay_records_every_test_with_its_id_and_set(tmp_path: Path, shop_server: ShopServer) -> None:
    keploy = make_recordings(tmp_path)
    result = CliRunner().invoke(command, ["keploy", str(keploy), "--url", shop_server.url])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "mismatch  test-set-1/test-1  GET /users/500: got 404, recorded 200" in output
    assert "test-3.yaml:4: not valid YAML" in output and "skipped" in output
    assert "Traceback" not in output
    summary_row = [line for line in output.splitlines() if line.count("│") >= 6][-1]
    assert [cell.strip() for cell in summary_row.strip("│ ").split("│")] == ["5", "4", "1", "0", "0", "1"]

    records = {(record.test_set, record.test_id): record for record in shop_server.records()}
    assert set(records) == {
        ("test-set-0", "test-1"), ("test-set-0", "test-2"), ("test-set-0", "test-10"),
        ("test-set-1", "test-1"), ("test-set-1", "test-2"),
    }
    cart = records[("test-set-0", "test-2")]
    assert (cart.method, cart.route, cart.status) == ("POST", "/cart", 200)
    cart_lines = cart.lines[SHOP_FILE]
    assert any(line not in records[("test-set-0", "test-1")].lines[SHOP_FILE] for line in cart_lines)
    assert records[("test-set-0", "test-10")].path == "/users/7"
    assert records[("test-set-1", "test-1")].status == 404
    assert records[("test-set-1", "test-2")].status == 302  # the redirect was not followed


def test_replay_directory_limits_and_runs_concurrently(tmp_path: Path, shop_server: ShopServer) -> None:
    keploy = tmp_path / "many"
    for number in range(1, 13):
        write_test(keploy, "test-set-0", f"test-{number}",
                   keploy_test(f"test-{number}", "GET", f"http://example.test/users/{number}", 200))
    seen = []
    summary = replay_directory("keploy", keploy, shop_server.url, concurrency=4, limit=10, on_result=seen.append)
    assert (summary.sent, summary.matched, summary.failed, summary.skipped) == (10, 10, 0, 0)
    assert [result.request.test_id for result in summary.results] == [f"test-{n}" for n in range(1, 11)]
    assert len(seen) == 10
    ids = sorted(record.test_id for record in shop_server.records())
    assert ids == sorted(f"test-{n}" for n in range(1, 11))


def test_nothing_sent_exits_1_with_the_reason(tmp_path: Path, shop_server: ShopServer) -> None:
    keploy = make_recordings(tmp_path)
    shop_server.stop()
    result = CliRunner().invoke(command, ["keploy", str(keploy), "--url", shop_server.url, "--timeout", "2"])
    assert result.exit_code == 1
    assert "nothing could be sent to" in result.output and "connection refused" in result.output
    assert "Traceback" not in result.output


def test_unusable_inputs_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(command, ["keploy", str(tmp_path / "absent"), "--url", "http://127.0.0.1:9"])
    assert missing.exit_code == 1 and "is not a folder of Keploy test sets" in missing.output
    empty = runner.invoke(command, ["keploy", str(tmp_path), "--url", "http://127.0.0.1:9"])
    assert empty.exit_code == 1 and "holds no Keploy test set" in empty.output
    bad_url = runner.invoke(command, ["keploy", str(tmp_path), "--url", "ftp://somewhere"])
    assert bad_url.exit_code == 1 and "--url must look like" in bad_url.output
    for result in (missing, empty, bad_url):
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)  # click's clean exit, not a crash
