"""Line sets (schema 4): each distinct set of a request's files kept once,
records read back exactly as written, older stores migrated and read as they are."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import List

import pytest

from requestcov.records import STARTUP, FileVersion, RequestRecord
from requestcov.store import SCHEMA_VERSION, SQLiteStore
from requestcov.store.requestset import ids_part, numbers_part, pack_set, unpack_set
from tests.support.storefiles import a_version_3_store

VIEWS, MODELS = "/app/views.py", "/app/models.py"
VERSION = FileVersion(sha256="a" * 64, commit="c0ffee", repo="/app")


def make_record(number: int, **changes) -> RequestRecord:
    fields = dict(
        test_id=f"test-{number}", method="GET", path=f"/items/{number}", route="/items/<id>", status=200,
        start=1700000000.0 + number, duration_ms=1.5, pid=4242, lines={VIEWS: [1, 2, 3], MODELS: [5]},
    )
    fields.update(changes)
    return RequestRecord(**fields)


def _line_set_rows(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM line_set").fetchone()[0])
    finally:
        connection.close()


def _without_ids(records: List[RequestRecord]) -> List[RequestRecord]:
    for record in records:
        record.record_id = None
    return records


def test_records_that_ran_the_same_lines_share_one_line_set(store_path: Path) -> None:
    versions = {VIEWS: VERSION}
    same = [make_record(number, versions=dict(versions)) for number in range(5)]
    # Equal lines in another dict order, and from another batch, are the same set.
    same.append(make_record(5, lines={MODELS: [5], VIEWS: [1, 2, 3]}, versions={VIEWS: FileVersion(**vars(VERSION))}))
    other = [make_record(6, lines={VIEWS: [1, 2]}), make_record(7, versions={})]
    with SQLiteStore(store_path) as store:
        store.write(same[:3])
        store.write(same[3:] + other)
        keyed = list(store.iter_keyed_records())
        assert store.line_set_count() == 3
    assert _line_set_rows(store_path) == 3
    keys = [key for key, _ in keyed]
    assert len(set(keys[:6])) == 1 and len(set(keys)) == 3
    assert [record.test_id for _, record in keyed] == [f"test-{number}" for number in range(8)]
    assert all(record.versions == versions for _, record in keyed[:6])
    assert keyed[7][1].versions == {}


def test_records_of_one_set_do_not_share_their_lists(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        store.write([make_record(1), make_record(2)])
        first, second = store.records()
    first.lines[VIEWS].append(99)
    first.versions["/elsewhere.py"] = VERSION
    assert second.lines == {VIEWS: [1, 2, 3], MODELS: [5]} and second.versions == {}


def test_every_kind_of_file_entry_comes_back_as_written(store_path: Path) -> None:
    written = [
        make_record(1, lines={"/app/empty.py": [], "/app/big.py": [1, 50_000, 70_000]}),
        make_record(2, lines={VIEWS: [4]}, arcs={VIEWS: [(-4, 4), (4, -4)], "/app/arcs_only.py": [(-1, 1)]},
                    versions={VIEWS: VERSION}),
        make_record(3, arcs={}),
        make_record(4, lines={}),
        RequestRecord(test_id="startup", kind=STARTUP, pid=7, start=1.0, lines={VIEWS: [1]}),
    ]
    expected = [RequestRecord(**vars(record)) for record in written]
    expected[1].lines["/app/arcs_only.py"] = []  # a file of arcs only reads back with no lines, as before
    with SQLiteStore(store_path) as store:
        store.write(written)
        read = store.records() + store.startup_records()
        # test_records has never carried file versions (the Keploy agent needs none).
        assert _without_ids(store.test_records("", "test-2")) == [RequestRecord(**{**vars(expected[1]), "versions": {}})]
    assert _without_ids(read) == expected


def test_a_record_rewritten_in_place_names_its_new_set(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        [row_id] = store.write([make_record(1)])
        store.write([make_record(1, record_id=row_id, lines={VIEWS: [9]})])
        assert [record.lines for record in store.records()] == [{VIEWS: [9]}]


def test_two_connections_writing_the_same_set_keep_it_once(store_path: Path) -> None:
    with SQLiteStore(store_path) as first, SQLiteStore(store_path) as second:
        first.write([make_record(1)])
        second.write([make_record(2), make_record(3, lines={VIEWS: [7]})])
        first.write([make_record(4, lines={VIEWS: [7]})])
        assert [record.lines for record in first.records()] == [
            {VIEWS: [1, 2, 3], MODELS: [5]}, {VIEWS: [1, 2, 3], MODELS: [5]}, {VIEWS: [7]}, {VIEWS: [7]}]
    assert _line_set_rows(store_path) == 2


def test_a_failed_batch_forgets_the_sets_it_added(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.write([make_record(1, lines={VIEWS: [11]}), make_record(2, start=None)])
        # The set went with the rolled back transaction: written again, it is there.
        store.write([make_record(3, lines={VIEWS: [11]}), make_record(4, lines={VIEWS: [11]})])
        assert [record.lines for record in store.records()] == [{VIEWS: [11]}, {VIEWS: [11]}]
    assert _line_set_rows(store_path) == 1


def test_many_distinct_sets_past_the_caches_stay_right(store_path: Path) -> None:
    from requestcov.store import sqlite as module

    written = [make_record(number, lines={VIEWS: [number % 50 + 1, 100]}) for number in range(300)]
    limits = module._SET_CACHE_LIMIT, module._FINGERPRINT_LINE_LIMIT
    module._SET_CACHE_LIMIT, module._FINGERPRINT_LINE_LIMIT = 8, 20
    try:
        with SQLiteStore(store_path) as store:
            for first in range(0, len(written), 32):
                store.write(written[first:first + 32])
            read = store.records()
    finally:
        module._SET_CACHE_LIMIT, module._FINGERPRINT_LINE_LIMIT = limits
    assert [record.lines for record in read] == [record.lines for record in written]
    assert _line_set_rows(store_path) == 50


def test_a_version_3_store_is_read_as_it_is_and_migrated_to_the_same_records(store_path: Path) -> None:
    a_version_3_store(store_path)
    with SQLiteStore(store_path, read_only=True) as store:
        before = (store.records(), store.startup_records(), store.test_records("", "test-3"))
        assert [key for key, _ in store.iter_keyed_records()] == [None] * 4
        assert store.line_set_count() is None
    assert before[0][0].lines == {VIEWS: [1, 2, 70_000], MODELS: [5]}
    assert before[0][0].versions[VIEWS] == VERSION
    assert before[0][2].arcs == {VIEWS: [(-1, 2), (2, -1)], "/app/arcs.py": [(-1, 2), (2, -1)]}
    with SQLiteStore(store_path) as store:
        after = (store.records(), store.startup_records(), store.test_records("", "test-3"))
        keys = [key for key, _ in store.iter_keyed_records()]
    assert after == before
    assert keys[0] == keys[1] and len(set(keys)) == 3  # requests 1 and 2 ran the same lines
    connection = sqlite3.connect(store_path)
    assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'request_file'").fetchone()[0] == 0
    # Schema 5: no index on the test id, which every insert paid for.
    assert connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'request_test'").fetchone()[0] == 0
    connection.close()


def test_a_packed_set_unpacks_to_what_was_packed() -> None:
    packed = pack_set([3, 1], [0, 7], [[1, 2, 65_536], []], [None, [(-1, 1), (1, -1)]])
    assert unpack_set(packed) == ([3, 1], [None, 7], [[1, 2, 65_536], []], [None, [(-1, 1), (1, -1)]])
    assert unpack_set(pack_set([], [], [])) == ([], [], [], None)
    with pytest.raises(ValueError):
        unpack_set(packed[:-3])


def test_a_set_of_narrow_lines_packs_as_its_two_parts() -> None:
    lines = [[1, 2, 65_535], [], [7]]
    assert ids_part([3, 1, 2], [0, 7, 0]) + numbers_part(lines) == pack_set([3, 1, 2], [0, 7, 0], lines)
