"""The lines a store's requests ran, added up from its distinct line sets'
packed bytes, against the same union made from the records read back."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Set

from requestcov.analysis.covered import StatementTable
from requestcov.analysis.lineunion import line_union
from requestcov.records import STARTUP, RequestRecord
from requestcov.report.summary import summarize_keyed
from requestcov.store import SQLiteStore
from requestcov.store.requestset import line_numbers_part, pack_set, unpack_set

SOURCE = "def view(value):\n    total = (value +\n             1)\n    return total\n\n\ndef other():\n    return 2\n"


def _union_of(records: List[RequestRecord]) -> Dict[str, List[int]]:
    union: Dict[str, Set[int]] = {}
    for record in records:
        for path, lines in record.lines.items():
            if lines:
                union.setdefault(path, set()).update(lines)
    return {path: sorted(lines) for path, lines in union.items()}


def test_the_union_of_the_packed_sets_is_the_union_of_the_records(store_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "views.py"
    source.write_text(SOURCE)
    chooser = random.Random(7)
    paths = [str(source)] + [f"/app/module_{number}.py" for number in range(30)]
    records = []
    for number in range(2_500):  # more sets than are marked at once; later files and longer lines widen the marks
        files = chooser.sample(paths[:5 + number // 100], 3)
        lines = {path: sorted(chooser.sample(range(1, 40 + number), 4)) for path in files}
        if number % 500 == 7:
            lines[files[0]] = [70_000, 5]  # a line past 65,535: four bytes a number
        if number % 1_000 == 13:
            lines[files[2]] = [5_000_000, 2]  # past what is marked in the array: kept apart
        if number % 300 == 11:
            lines[files[1]] = []
        arcs = {files[0]: [(1, 2), (2, -1)]} if number % 250 == 3 else None
        records.append(RequestRecord(test_id=f"t{number}", lines=lines, arcs=arcs, start=float(number)))
    startup = RequestRecord(test_id="", kind=STARTUP, lines={"/app/only_at_start.py": [1, 2]})
    with SQLiteStore(store_path) as store:
        store.write([startup])
        for first in range(0, len(records), 400):
            store.write(records[first:first + 400])
    with SQLiteStore(store_path, read_only=True) as store:
        line_sets = store.distinct_line_numbers()
        assert line_sets is not None
        got = line_union(line_sets)
        read_back = list(store.iter_records())
        keyed = list(store.iter_keyed_records())
    assert got == _union_of(read_back) == _union_of(records)
    assert "/app/only_at_start.py" not in got
    # report's totals are the same whether it adds the lines up itself or is handed them.
    assert (summarize_keyed(iter(keyed), {}, StatementTable(), limit=5, ran=got)
            == summarize_keyed(iter(keyed), {}, StatementTable(), limit=5))


def test_a_store_without_line_sets_has_none_to_hand_out(store_path: Path) -> None:
    from tests.support.storefiles import a_version_3_store

    a_version_3_store(store_path)
    with SQLiteStore(store_path, read_only=True) as store:
        assert store.distinct_line_numbers() is None


def test_the_line_numbers_part_says_where_a_packed_sets_numbers_lie() -> None:
    import numpy as np

    for lines in ([[3, 1, 2], [], [65_535]], [[70_000], [4, 5]]):
        arcs = [None, [(1, 2)]] + [None] * (len(lines) - 2)
        blob = pack_set(list(range(1, len(lines) + 1)), [0] * len(lines), lines, arcs)
        ids, counts, width, start = line_numbers_part(blob)
        numbers = np.frombuffer(blob, dtype=f"<u{width}", count=sum(counts), offset=start).tolist()
        assert list(ids) == unpack_set(blob)[0] and list(counts) == [len(part) for part in lines]
        assert numbers == [line for part in lines for line in part]
