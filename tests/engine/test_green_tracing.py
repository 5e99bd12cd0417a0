"""The trace-function engine in a gevent or eventlet process, on both cores:
each greenlet's lines go to its own request, those after a switch included.

The trace function belongs to the OS thread, which all greenlets share: a
greenlet that cleared it (the writer did at its start while it was a green
"thread") lost every line the requests in flight ran after their next switch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import lines_with
from tests.support.green_probe import run_probe

TARGET = Path(__file__).resolve().parents[1] / "apps" / "green_target.py"


@pytest.mark.parametrize("library", ["gevent", "eventlet"])
def test_every_greenlet_records_its_lines_after_the_switch(library: str, core: str) -> None:
    report = run_probe(library, "trace")
    assert report["core"] == {"compiled": "compiled", "python": "Python"}[core]
    body = [number for text in ("before = ", "time.sleep(", "after = ", "return after")
            for number in lines_with(TARGET, text)]
    assert len(body) == 4
    assert report["lines"] == {name: sorted(body) for name in ("one", "two", "three")}
