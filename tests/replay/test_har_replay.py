"""Replaying a browser's HAR file against a real recorded server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from requestcov.cli import main
from requestcov.commands.replay import command
from tests.replay.conftest import ShopServer


def entry(method: str, url: str, status: int, **extra: object) -> dict:
    request = {
        "method": method, "url": url, "httpVersion": "HTTP/2",
        "headers": [{"name": ":authority", "value": "shop.example"}, {"name": "accept", "value": "*/*"}],
        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0,
    }
    request.update(extra.pop("request", {}))  # type: ignore[arg-type]
    return {"startedDateTime": "2024-05-01T10:00:00.000Z", "time": 3.2, "request": request,
            "response": {"status": status, "statusText": "", "headers": [], "content": {}}, **extra}


def write_har(path: Path) -> Path:
    entries = [
        entry("GET", "https://shop.example/hello", 200),
        entry("POST", "https://shop.example/cart", 200, _id="checkout",
              request={"postData": {"mimeType": "application/json", "text": '[{"price": 4.0}]'}}),
        entry("GET", "data:image/png;base64,AAAA", 200),
        entry("GET", "https://shop.example/users/200?tab=orders", 200, comment="user lookup"),
        {"startedDateTime": "2024-05-01T10:00:01.000Z", "response": {"status": 200}},
        entry("GET", "https://shop.example/hello", 0),
    ]
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "Firefox"}, "entries": entries}}))
    return path


def test_har_replay_names_tests_and_reports_mismatches(tmp_path: Path, shop_server: ShopServer) -> None:
    har = write_har(tmp_path / "shop.har")
    result = CliRunner().invoke(command, ["har", str(har), "--url", shop_server.url, "--test-set", "browser"])
    assert result.exit_code == 0, result.output
    assert "entry 3: 'data:image/png;base64,AAAA' is not an http(s) URL; skipped" in result.output
    assert "entry 5 has no request; skipped" in result.output
    assert "mismatch  browser/user lookup  GET /users/200?tab=orders: got 404, recorded 200" in result.output
    summary_row = [line for line in result.output.splitlines() if line.count("│") >= 6][-1]
    assert [cell.strip() for cell in summary_row.strip("│ ").split("│")] == ["4", "2", "1", "1", "0", "2"]

    records = {record.test_id: record for record in shop_server.records()}
    assert set(records) == {"har-1", "checkout", "user lookup", "har-6"}
    assert {record.test_set for record in records.values()} == {"browser"}
    assert (records["checkout"].route, records["checkout"].status) == ("/cart", 200)
    assert records["user lookup"].status == 404


def test_invalid_har_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": {"entries": [')
    result = CliRunner().invoke(main, ["replay", "har", str(broken), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert f"{broken}: not a HAR file, the JSON is invalid" in result.output
    assert "Traceback" not in result.output

    not_har = tmp_path / "list.har"
    not_har.write_text("[1, 2]")
    result = CliRunner().invoke(command, ["har", str(not_har), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "not a HAR file (no log.entries list)" in result.output
