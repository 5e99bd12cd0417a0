"""Sampling for production traffic: tests are always recorded, the rest at a rate."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from requestcov.config import parse_sample_rule
from requestcov.sampling import Sampler
from requestcov.store import SQLiteStore
from tests.support.servers import free_port, running_server, serve_command


def test_requests_with_a_test_id_are_always_recorded_and_others_at_the_rate(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    command = serve_command("flask", port, db, "--sample-rate", "0.5", "--sample", "GET /hello*=0")
    with running_server(command, port) as base_url:
        session = requests.Session()
        for number in range(20):
            session.get(base_url + "/users/4", headers={"KEPLOY-TEST-ID": f"test-{number}"}, timeout=30)
        for _ in range(300):
            session.get(base_url + "/users/5", timeout=30)
        for _ in range(50):
            session.get(base_url + "/hello", timeout=30)
        # A test id wins over an endpoint rule of 0.
        session.get(base_url + "/hello", headers={"KEPLOY-TEST-ID": "hello-test"}, timeout=30)
    records = SQLiteStore(db).records()
    tests = [record for record in records if record.test_id.startswith("test-")]
    anonymous = [record for record in records if record.path == "/users/5"]
    hello = [record for record in records if record.path == "/hello"]
    assert len(tests) == 20
    # 300 draws at 0.5: outside 100..200 happens with probability below 1e-8.
    assert 100 <= len(anonymous) <= 200
    assert [record.test_id for record in hello] == ["hello-test"]
    # Sampled requests are complete records, not partial ones.
    assert all(record.lines == anonymous[0].lines for record in anonymous)
    assert all(record.lines == tests[0].lines for record in tests)


def test_unrecorded_requests_do_not_leak_into_recorded_ones_or_start_up(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    command = serve_command("flask", port, db, "--sample-rate", "0")
    with running_server(command, port) as base_url:
        for _ in range(5):
            requests.get(base_url + "/price/FR", timeout=30)  # never recorded
        requests.get(base_url + "/price/DE", headers={"KEPLOY-TEST-ID": "recorded"}, timeout=30)
    with SQLiteStore(db) as store:
        records = store.records()
        startup = store.startup_records()
    assert [record.test_id for record in records] == ["recorded"]
    french_rate_line = 23
    logic = next(path for path in records[0].lines if path.endswith("shop_logic.py"))
    assert french_rate_line not in records[0].lines[logic]
    assert all(french_rate_line not in record.lines.get(logic, []) for record in startup)


def test_rules_match_method_and_path_pattern_and_the_first_match_wins() -> None:
    sampler = Sampler(1.0, ["GET /health*=0", "/internal/*=0", "POST /api/*=1", "/api/*=0"])
    assert not sampler.should_record("GET", "/health/ready", False)
    assert sampler.should_record("POST", "/health", False)
    assert not sampler.should_record("PUT", "/internal/x", False)
    assert sampler.should_record("POST", "/api/orders", False)
    assert not sampler.should_record("GET", "/api/orders", False)
    assert sampler.should_record("GET", "/api/orders", True)


@pytest.mark.parametrize("rule", ["GET /x", "GET /x=2", "GET /x=often", "=0.5"])
def test_malformed_rules_are_refused_with_a_reason(rule: str) -> None:
    with pytest.raises(ValueError, match="sampling rule"):
        parse_sample_rule(rule)
