"""On Python 3.9-3.11 each core has a second engine, which test_oracle.py
(the default engine) does not reach: against coverage.py too.

The default is the probes with the compiled core and the trace function with
the pure-Python core (``requestcov.engine.engine_kind``); here the same
requests and servers as test_oracle.py are recorded with the other one of
each: the compiled trace function (``REQUESTCOV_ENGINE=settrace``) and the
pure-Python probes (``REQUESTCOV_ENGINE=probes``). Each request, run alone,
must get exactly the lines coverage.py records for it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

import pytest

from requestcov.engine import ENGINE_VARIABLE
from tests.conftest import coverage_oracle
from tests.engine.test_oracle import FASTAPI_REQUESTS, FLASK_REQUESTS, record_solo

pytestmark = pytest.mark.skipif(not (3, 9) <= sys.version_info < (3, 12), reason="one engine only on 3.12+")

#: The engine each core does not take by default.
SECOND_ENGINE = {"compiled": "settrace", "python": "probes"}


@pytest.mark.parametrize("kind, specs", [("flask", FLASK_REQUESTS), ("fastapi", FASTAPI_REQUESTS)])
def test_second_engine_matches_coverage_py(
    kind: str, specs: List[dict], tmp_path: Path, core: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENGINE_VARIABLE, SECOND_ENGINE[core])
    recorded = record_solo(kind, specs, tmp_path / "requestcov.db")
    expected = coverage_oracle(kind, specs)
    mismatches = {
        spec["id"]: {
            path: {"missing": sorted(set(expected[spec["id"]].get(path, [])) - set(recorded[spec["id"]].get(path, []))),
                   "extra": sorted(set(recorded[spec["id"]].get(path, [])) - set(expected[spec["id"]].get(path, [])))}
            for path in set(expected[spec["id"]]) | set(recorded[spec["id"]])
            if expected[spec["id"]].get(path) != recorded[spec["id"]].get(path)
        }
        for spec in specs
        if recorded[spec["id"]] != expected[spec["id"]]
    }
    assert mismatches == {}
    assert all(recorded[spec["id"]] for spec in specs)
