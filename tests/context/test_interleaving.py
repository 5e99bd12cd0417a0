"""Concurrent requests never mix: each gets exactly the lines it gets alone.

The tests force the hard cases rather than hope for them: pairs of requests
held inside their handlers at the same time by a barrier (threads) or an
event (asyncio tasks), taking different branches while the other is in
flight; and a stress run with a tiny thread switch interval, where the
sys.monitoring engine's disable decision races with requests starting.
"""

from __future__ import annotations

import concurrent.futures
import itertools
from pathlib import Path
from typing import Dict, List

import pytest
import requests

from requestcov.store import SQLiteStore
from tests.engine.test_oracle import FASTAPI_REQUESTS, FLASK_REQUESTS, record_solo
from tests.support.servers import free_port, running_server, serve_command

SWITCH_INTERVAL = "1e-5"


def send(base_url: str, spec: dict, test_id: str) -> int:
    response = requests.request(
        spec["method"], base_url + spec["path"], json=spec.get("json"),
        headers={"KEPLOY-TEST-ID": test_id}, timeout=30,
    )
    response.content
    return response.status_code


def pair_specs(kind: str, pairs: int) -> List[dict]:
    """Even and odd user ids take different branches inside the same handler."""
    route = "/meet" if kind == "flask" else "/ameet"
    specs = []
    for number in range(pairs):
        for user_id in (2 * number + 2, 2 * number + 3):
            specs.append({"id": f"pair-{number}-{user_id}", "method": "GET",
                          "path": f"{route}/pair-{number}/{user_id}", "pair": number})
    return specs


def solo_version(spec: dict) -> dict:
    path = spec["path"].replace(f"pair-{spec['pair']}", f"solo-{spec['id']}")
    return {"id": spec["id"], "method": "GET", "path": path + "?parties=1"}


@pytest.mark.parametrize("kind", ["flask", "fastapi"])
def test_requests_held_inside_handlers_at_once_get_their_own_lines(kind: str, tmp_path: Path) -> None:
    specs = pair_specs(kind, pairs=6)
    expected = record_solo(kind, [solo_version(spec) for spec in specs], tmp_path / "solo.db")

    db = tmp_path / "concurrent.db"
    port = free_port()
    with running_server(serve_command(kind, port, db, "--switch-interval", SWITCH_INTERVAL), port) as base_url:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(specs)) as pool:
            statuses = list(pool.map(lambda spec: send(base_url, spec, spec["id"]), specs))
    assert statuses == [200] * len(specs)

    recorded = {record.test_id: record.lines for record in SQLiteStore(db).records()}
    for spec in specs:
        assert recorded[spec["id"]] == expected[spec["id"]], spec["id"]
    # Even and odd requests really ran different code while both were in flight.
    assert recorded["pair-0-2"] != recorded["pair-0-3"]


@pytest.mark.parametrize("kind, catalogue", [("flask", FLASK_REQUESTS), ("fastapi", FASTAPI_REQUESTS)])
def test_stress_with_constant_thread_switching(kind: str, catalogue: List[dict], tmp_path: Path) -> None:
    catalogue = [spec for spec in catalogue if "meet" not in spec["id"]]
    expected = record_solo(kind, catalogue, tmp_path / "solo.db")
    total = 240
    plan = [
        (f"{spec['id']}@{index}", spec)
        for index, spec in zip(range(total), itertools.cycle(catalogue))
    ]

    db = tmp_path / "stress.db"
    port = free_port()
    with running_server(serve_command(kind, port, db, "--switch-interval", SWITCH_INTERVAL), port) as base_url:
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(lambda item: send(base_url, item[1], item[0]), plan))

    records = SQLiteStore(db).records()
    by_id: Dict[str, object] = {record.test_id: record for record in records}
    assert len([r for r in records if "@" in r.test_id]) == total
    mixed = [
        test_id for test_id, spec in plan
        if by_id[test_id].lines != expected[spec["id"]]  # type: ignore[attr-defined]
    ]
    assert mixed == []
