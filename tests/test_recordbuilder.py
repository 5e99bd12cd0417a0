"""The recorder's records of finished requests: packed in one call, each
distinct line set once, and exactly the records (and stored bytes) of the
long way, with the compiled core and without."""

from __future__ import annotations

import dataclasses
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

from requestcov import recordbuilder
from requestcov.context import Collector
from requestcov.engine.core import compiled_core
from requestcov.engine.source import SourceMatcher
from requestcov.fileversions import FileVersions
from requestcov.recordbuilder import RecordBuilder, pack_lines_python, ready_rows_python
from requestcov.recorder import ActiveRequest, _compiled_request_path, _Finished
from requestcov.records import REQUEST, STARTUP, RequestRecord
from requestcov.store import SQLiteStore
from requestcov.store.writer import BackgroundWriter
from requestcov.store.requestset import ids_part, unpack_set

CORE = compiled_core()
#: The packing functions to hold against each other: the compiled one when built.
PACKERS = {"python": pack_lines_python, **({"compiled": CORE.pack_lines} if CORE is not None else {})}


def _long_way(lines_by_name: Any, path_by_name: Any, known: Any) -> None:
    return None


def _numbers(packed: bytes, count: int) -> List[List[int]]:
    """Each file's lines of packed numbers, read as the store reads its sets."""
    return unpack_set(ids_part(list(range(1, count + 1)), [0] * count) + packed)[2]


def test_the_compiled_core_has_pack_lines() -> None:
    assert CORE is not None, "the compiled core (requestcov.engine._speedups) was not built"
    assert "compiled" in PACKERS


def _random_sets(generator: random.Random) -> Dict[str, Set[int]]:
    sets: Dict[str, Set[int]] = {}
    for number in range(generator.randint(0, 12)):
        size = generator.choice([0, 1, 2, 5, 50, 300])
        top = generator.choice([64, 700, 5_000, 65_535])
        sets[f"/app/f{generator.randint(0, 30)}_{number}.py"] = set(generator.sample(range(top + 1), min(size, top + 1)))
    return sets


def test_both_packers_pack_random_collectors_to_the_same_bytes() -> None:
    generator = random.Random(7)
    known: Dict[Any, Any] = {}
    for _ in range(500):
        sets = _random_sets(generator)
        # Some names not measured; paths deliberately in another order than the names.
        paths = {name: (None if generator.random() < 0.1 else "/src/" + name[::-1]) for name in sets}
        answers = {kind: packer(sets, paths, known) for kind, packer in PACKERS.items()}
        assert len(set(map(repr, answers.values()))) == 1, answers
        key, found, lists = answers["python"]
        measured = sorted((path, sorted(sets[name])) for name, path in paths.items() if path is not None)
        assert key[0] == tuple(path for path, _ in measured)
        assert _numbers(key[1], len(measured)) == [lines for _, lines in measured]
        if key in known:  # a collector met before (an empty one, say)
            assert found is known[key] and lists is None
            continue
        assert found is None and lists == [lines for _, lines in measured]
        if generator.random() < 0.5:
            known[key] = object()
            # Known now: found by the key, in both, with no lists.
            for packer in PACKERS.values():
                again = packer(sets, paths, known)
                assert again == (key, known[key], None) and again[1] is known[key]


def test_new_lists_are_made_of_the_sets_own_numbers() -> None:
    big = {10 ** 4 + number for number in range(20)}
    for packer in PACKERS.values():
        _, _, lists = packer({"a": big}, {"a": "/a"}, {})
        assert all(any(line is mine for mine in big) for line in lists[0])


@pytest.mark.parametrize("sets, paths", [
    ({}, {}),
    ({"a": set()}, {"a": "/a"}),
    ({"a": {0, 65_535}}, {"a": "/a"}),
    ({"a": frozenset({3, 1})}, {"a": "/a"}),
    ({"a": {1}, "b": {2}}, {"a": None, "b": "/b"}),
    ({"a": {True, 5}}, {"a": "/a"}),
    # The long way: a line past 65,535, a negative one, a huge one.
    ({"a": {1, 65_536}}, {"a": "/a"}),
    ({"a": {-1, 4}}, {"a": "/a"}),
    ({"a": {2 ** 61 + 3}}, {"a": "/a"}),
    ({"a": {2 ** 70}}, {"a": "/a"}),
    # A name not decided yet, two names of one path, not a set of numbers.
    ({"a": {1}, "b": {2}}, {"a": "/a"}),
    ({"a": {1}, "b": {2}}, {"a": "/x", "b": "/x"}),
    ({"a": {(1, 2)}}, {"a": "/a"}),
    ({"a": [1, 2]}, {"a": "/a"}),
    ({"a": {1.0}}, {"a": "/a"}),
    ({"a": {1}}, {"a": b"/a"}),
])
def test_both_packers_agree_on_every_kind_of_collector(sets: Dict[str, Any], paths: Dict[str, Any]) -> None:
    answers = [packer(sets, paths, {}) for packer in PACKERS.values()]
    assert all(answer == answers[0] for answer in answers)


def test_a_set_with_removals_packs_what_it_holds() -> None:
    lines = set(range(1, 400))
    for line in range(1, 400, 3):
        lines.discard(line)  # leaves dummies in the set's table
    answers = [packer({"a": lines}, {"a": "/a"}, {}) for packer in PACKERS.values()]
    assert all(answer == answers[0] for answer in answers)
    assert _numbers(answers[0][0][1], 1) == [sorted(lines)] == list(answers[0][2])


# -- records, through the store -------------------------------------------


def _finished(collector: Collector, number: int, kind: str = "request") -> _Finished:
    request = ActiveRequest(collector=collector, token=None, test_id=f"test-{number}", test_set="set",
                            method="GET", path=f"/items/{number}", start=1700000000.0 + number,
                            started_counter=0.0)
    request.route, request.status = "/items/<id>", 200  # as the middleware sets them
    return (request, 1.5, 4242, kind)


def _collector(lines: Dict[str, Set[int]]) -> Collector:
    collector = Collector()
    collector.lines = {name: set(values) for name, values in lines.items()}
    return collector


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    for name in ("views.py", "models.py", "big.py"):
        (root / name).write_text("".join(f"x = {line}\n" for line in range(100)))
    return root


def _traffic(root: Path) -> List[List[Dict[str, Set[int]]]]:
    """Batches of collectors' lines: sets that repeat, sets that do not, a
    relative and an absolute name of one file, a line past 65,535."""
    views, models, big = (str(root / name) for name in ("views.py", "models.py", "big.py"))
    relative = os.path.relpath(views)
    generator = random.Random(3)
    endpoints = [{views: {1, 2, 3}, models: {5}}, {views: {1, 4}}, {models: set(range(10, 60))}]
    batches = []
    for batch in range(4):
        lines = [dict(generator.choice(endpoints)) for _ in range(20)]
        lines += [{views: set(generator.sample(range(1, 100), 10))} for _ in range(5)]
        lines.append({views: {1, 2}, relative: {3}})
        lines.append({big: {1, 70_000}, models: {5}})
        lines.append({})
        batches.append(lines)
    return batches


def _record_all(db: Path, root: Path, pack_lines: Any, edit_between: bool = False) -> List[RequestRecord]:
    matcher = SourceMatcher([str(root)])
    versions = FileVersions()
    builder = RecordBuilder(matcher, branch=False, versions=versions, pack_lines=pack_lines)
    built: List[RequestRecord] = []
    number = 0
    with SQLiteStore(db) as store:
        for index, batch in enumerate(_traffic(root)):
            if edit_between and index == 2:
                (root / "views.py").write_text("# edited\n" + "".join(f"y = {line}\n" for line in range(100)))
                time.sleep(0.01)
            versions.new_batch()
            records = []
            for lines in batch:
                records.append(builder.build(_finished(_collector(lines), number)))
                number += 1
            records.append(builder.build(_finished(_collector(batch[0]), number, kind=STARTUP)))
            number += 1
            store.write(records)
            built += records
        read = store.records() + store.startup_records()
    for record in read:
        record.record_id = None
    return read


def _rows(db: Path) -> List[Any]:
    connection = sqlite3.connect(db)
    try:
        return [connection.execute(query).fetchall() for query in (
            "SELECT id, data FROM line_set ORDER BY id", "SELECT * FROM request ORDER BY id",
            "SELECT * FROM file ORDER BY id", "SELECT * FROM file_version ORDER BY id")]
    finally:
        connection.close()


@pytest.mark.parametrize("edit_between", [False, True])
def test_records_and_stored_bytes_are_those_of_the_long_way(tmp_path: Path, app: Path, edit_between: bool) -> None:
    read = {}
    for kind, packer in {**PACKERS, "long": _long_way}.items():
        if edit_between:  # each run sees the same file before and after its edit
            (app / "views.py").write_text("".join(f"x = {line}\n" for line in range(100)))
        db = tmp_path / f"{kind}.db"
        read[kind] = _record_all(db, app, packer, edit_between)
        read[kind + " rows"] = _rows(db)
    for kind in PACKERS:
        assert read[kind] == read["long"]
        assert read[kind + " rows"] == read["long rows"]
    views = str(app / "views.py")
    shas = {record.versions[views].sha256 for record in read["long"] if views in record.versions}
    assert len(shas) == (2 if edit_between else 1)


def test_records_of_one_set_share_one_packed_form(app: Path) -> None:
    views = str(app / "views.py")
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions())
    builder.versions.new_batch()  # type: ignore[union-attr]
    first, second = (builder.build(_finished(_collector({views: {1, 2}}), number)) for number in (1, 2))
    other = builder.build(_finished(_collector({views: {1, 3}}), 3))
    assert first.packed is second.packed and first.lines is second.lines
    assert other.packed is not first.packed
    assert first.lines == {views: [1, 2]} and first.versions[views].sha256
    # A new batch looks the versions up again; unchanged, the set is the same object.
    builder.versions.new_batch()  # type: ignore[union-attr]
    assert builder.build(_finished(_collector({views: {1, 2}}), 4)).packed is first.packed


def test_a_copy_with_other_lines_is_stored_with_its_own_lines(tmp_path: Path, app: Path) -> None:
    """``dataclasses.replace`` does not carry the packed form over: a copy
    whose lines differ is written with them, not with the original's."""
    views = str(app / "views.py")
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions())
    builder.versions.new_batch()  # type: ignore[union-attr]
    original = builder.build(_finished(_collector({views: {1, 2}}), 1))
    builder.build(_finished(_collector({views: {1, 2}}), 2))  # packed now
    repeat = builder.build(_finished(_collector({views: {1, 2}}), 3))
    assert repeat.packed is not None
    copy = dataclasses.replace(repeat, test_id="copy", lines={views: [1, 2, 5]})
    assert copy.packed is None
    with SQLiteStore(tmp_path / "copy.db") as store:
        store.write([original, copy])
        stored = {record.test_id: record.lines for record in store.records()}
    assert stored == {original.test_id: {views: [1, 2]}, "copy": {views: [1, 2, 5]}}


def test_branch_coverage_goes_the_long_way(app: Path) -> None:
    views = str(app / "views.py")
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=True)
    collector = _collector({views: {2, 1}})
    collector.arcs = {views: {(1, 2), (-1, 1)}}
    record = builder.build(_finished(collector, 1))
    assert record.packed is None and record.lines == {views: [1, 2]} and record.arcs == {views: [(-1, 1), (1, 2)]}


def test_many_distinct_sets_past_the_table_limit_stay_right(tmp_path: Path, app: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordbuilder, "_KNOWN_LINE_LIMIT", 10)
    views = str(app / "views.py")
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions())
    wanted = [{views: {number % 7 + 1, 50}} for number in range(60)]
    with SQLiteStore(tmp_path / "store.db") as store:
        for first in range(0, len(wanted), 8):
            builder.versions.new_batch()  # type: ignore[union-attr]
            store.write([builder.build(_finished(_collector(lines), number))
                         for number, lines in enumerate(wanted[first:first + 8], start=first)])
        read = store.records()
        assert store.line_set_count() == 7
    assert [record.lines for record in read] == [{views: sorted(lines[views])} for lines in wanted]


def test_a_built_record_is_the_record_its_constructor_makes(app: Path) -> None:
    """The builder makes records without calling the class: each field is
    the one the constructor's keywords give, and nothing more is set."""
    views = str(app / "views.py")
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions())
    builder.versions.new_batch()  # type: ignore[union-attr]
    for number in range(3):  # new, then known
        finished = _finished(_collector({views: {1, 2}}), number)
        request, duration_ms, pid, kind = finished
        record = builder.build(finished)
        expected = RequestRecord(
            test_id=request.test_id, test_set=request.test_set, method=request.method, path=request.path,
            route=request.route, status=request.status, start=request.start, duration_ms=duration_ms,
            pid=pid, kind=kind, lines=record.lines, arcs=None, versions=record.versions,
        )
        assert record == expected
        assert set(vars(record)) == set(vars(expected)) | {"packed"}


def test_a_records_defaults_hold_without_class_attributes() -> None:
    """RequestRecord keeps no class attributes for its constructor's defaults
    (they would make every store in ``__init__`` a generic one), and its
    defaults and copies are what a dataclass gives."""
    fields = dataclasses.fields(RequestRecord)
    assert not [field.name for field in fields if field.init and field.name in vars(RequestRecord)]
    record = RequestRecord("t")
    assert (record.method, record.path, record.route, record.status, record.kind, record.lines, record.arcs,
            record.record_id, record.versions, record.packed) == ("", "", None, None, "request", {}, None, None, {},
                                                                  None)
    assert RequestRecord("t").lines is not record.lines
    assert dataclasses.replace(record, method="GET") == RequestRecord("t", method="GET")



# -- rows made with no record -----------------------------------------------

#: The row makers to hold against each other: the compiled request path's when built.
ROW_MAKERS = {"python": ready_rows_python,
              **({"compiled": _compiled_request_path().ready_rows} if CORE is not None else {})}


def _mixed_batch(app: Path, start: int) -> List[Any]:
    """Requests of known and new sets, a start-up item, one queued twice,
    one without a test id, one of a file not measured."""
    views, models = str(app / "views.py"), str(app / "models.py")
    sets = [{views: {1, 2, 3}}, {views: {1, 2, 3}, models: {5}}, {models: {7, 8}}]
    items = [_finished(_collector(sets[number % 3]), start + number) for number in range(12)]
    items.insert(4, _finished(_collector({views: {40, 41 + start}}), start + 20))  # new in each batch
    items.insert(7, _finished(_collector(sets[0]), start + 21, kind=STARTUP))
    items.insert(9, items[8])  # queued twice
    untagged = _finished(_collector(sets[1]), start + 22)
    untagged[0].test_id = ""
    items.append(untagged)
    items.append(_finished(_collector({views: {1, 2, 3}, "/elsewhere/lib.py": {3}}), start + 23))
    return items


def test_the_compiled_request_path_makes_rows() -> None:
    assert CORE is not None, "the compiled core (requestcov.engine._speedups) was not built"
    assert "compiled" in ROW_MAKERS


@pytest.mark.parametrize("maker", sorted(ROW_MAKERS))
def test_ready_rows_stop_at_what_needs_a_record_and_agree_with_the_twin(app: Path, maker: str) -> None:
    """Both makers take the same items, stop at the same ones and make the
    same rows, each naming its set by the builder's one PackedLines, and by
    its id when the store's sets hold one for it."""
    answers = {}
    for name in (maker, "python"):
        builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions(),
                                ready_rows=ROW_MAKERS[name])
        convert = builder.convert
        builder.versions.new_batch()  # type: ignore[union-attr]
        warm = _mixed_batch(app, 0)
        for item in warm:  # every set known, in this batch
            convert(item)
        items = _mixed_batch(app, 100)
        # The store knows every other set, by the builder's packing of each.
        set_ids = {part.packed: (number, ()) for number, part in enumerate(builder._known.values(), start=1)
                   if number % 2}
        stops, out = [], []
        index = 0
        while True:
            index = builder.ready_rows(items, index, out, set_ids)
            stops.append(index)
            if index >= len(items):
                break
            record = convert(items[index])
            out.append(record if record is None else ("record", record.test_id, record.kind))
            index += 1
        assert builder._stopped == []  # each packing kept for a record was used by it
        known = {id(part.packed) for part in builder._known.values()}
        rows = [entry for entry in out if type(entry) is list]
        assert all(id(row[10]) in known and row[0][2] == 0 for row in rows)
        assert all(row[9] == (set_ids[row[10]][0] if row[10] in set_ids else None) for row in rows)
        assert {row[9] for row in rows} >= {None, 1}
        answers[name] = (stops, [entry if type(entry) is not list else entry[:10] for entry in out],
                         [len(item[0].unwritten) for item in items])
    assert answers[maker] == answers["python"]
    stops, entries, unwritten = answers[maker]
    assert stops == [7, len(items)]  # the start-up item; then the rest (a new set is a row too)
    assert unwritten == [0] * len(items)
    rows = [entry for entry in entries if type(entry) is list]
    assert len(rows) == len(items) - 2  # less the start-up record and the second queueing
    assert rows[0][:9] == [("request", 4242, 0), "test-100", "set", "GET", "/items/100", "/items/<id>", 200,
                           1700000100.0, 1.5]
    # A new batch of versions: each set is looked at again, and its requests are rows still.
    builder.versions.new_batch()  # type: ignore[union-attr]
    again: List[Any] = []
    batch = _mixed_batch(app, 200)
    assert builder.ready_rows(batch, 0, again, {}) == 7
    assert [row[1] for row in again] == [item[0].test_id for item in batch[:7]]
    # The same sets, no file having changed, but for the one new in each batch.
    assert len({id(row[10]) for row in again} - known) == 1


def _writing(app: Path, db: Path, maker: str, ready: bool = True) -> Tuple[RecordBuilder, BackgroundWriter]:
    """A record builder with ``maker`` and a writer to ``db`` looking file
    versions up once a batch, making rows directly when ``ready`` (else a
    record for every request)."""
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions(),
                            ready_rows=ROW_MAKERS[maker])
    writer = BackgroundWriter(db, builder.convert, ready_rows=builder.ready_rows if ready else None,
                              before_batch=builder.versions.new_batch)  # type: ignore[union-attr]
    return builder, writer


@pytest.mark.parametrize("edit_between", [False, True])
@pytest.mark.parametrize("maker", sorted(ROW_MAKERS))
def test_the_writer_stores_ready_rows_as_it_stores_records(tmp_path: Path, app: Path, maker: str,
                                                           edit_between: bool) -> None:
    """The same traffic through the writer with rows made directly and with
    a record for every request: the very same store, byte for byte, a file
    edited between two batches or not (its sets are new ones then)."""
    views = app / "views.py"
    original = views.read_text()
    dumps = []
    for ready in (True, False):
        views.write_text(original)
        db = tmp_path / f"{ready}.db"
        builder, writer = _writing(app, db, maker, ready)
        with SQLiteStore(db) as store:
            for batch in range(3):
                if edit_between and batch == 2:
                    views.write_text(original + "y = 1\n")
                writer._write(store, _mixed_batch(app, 100 * batch))
        assert writer.written == 3 * (len(_mixed_batch(app, 0)) - 1)
        dumps.append(_rows(db))
    assert dumps[0] == dumps[1]
    with SQLiteStore(tmp_path / "True.db", read_only=True) as store:
        records = store.records()
        assert {record.test_id for record in records if record.test_id.startswith("GET")} == {
            "GET /items/<id> #1", "GET /items/<id> #2", "GET /items/<id> #3"}
        # The sets of every batch, and one new in each; after the edit, views.py's two again.
        assert store.line_set_count() == 3 + 3 + (2 if edit_between else 0)
        assert len({(path, version.sha256) for path, version in store.recorded_versions()}) == 2 + edit_between


def _steady_batch(app: Path, start: int, count: int = 9, pids: Tuple[int, ...] = (4242,)) -> List[Any]:
    """Requests of three sets, each with its test id: traffic once warm
    (of the processes ``pids``, in turn)."""
    views, models = str(app / "views.py"), str(app / "models.py")
    sets = [{views: {1, 2, 3}}, {views: {1, 2, 3}, models: {5}}, {models: {7, 8}}]
    items = [_finished(_collector(sets[number % 3]), start + number) for number in range(count)]
    return [(request, duration, pids[number % len(pids)], kind)
            for number, (request, duration, _, kind) in enumerate(items)]


@pytest.mark.parametrize("pids", [(4242,), (4242, 5151)], ids=["one-process", "two-processes"])
@pytest.mark.parametrize("last_batch", [9, 75])
@pytest.mark.parametrize("maker", sorted(ROW_MAKERS))
def test_rows_of_sets_the_store_knows_go_in_with_their_ids(tmp_path: Path, app: Path, maker: str,
                                                           last_batch: int, pids: Tuple[int, ...]) -> None:
    """Once warm, every row carries its set's id and the store takes the
    batch as it is (in groups of 32 and one by one; a process's kind, pid and
    has_arcs written into the statements, or bound when the rows differ in
    them): the same store, byte for byte, as with a record each."""
    dumps = []
    for ready in (True, False):
        db = tmp_path / f"{ready}.db"
        builder, writer = _writing(app, db, maker, ready)
        with SQLiteStore(db) as store:
            for batch in range(4):
                writer._write(store, _steady_batch(app, 100 * batch))
            if ready:
                out: List[Any] = []
                items = _steady_batch(app, 900, last_batch, pids)
                assert builder.ready_rows(items, 0, out, store.known_sets) == len(items)
                assert all(type(row[9]) is int for row in out)
                store.write(out, set_ids_from=store.known_sets)
            else:
                writer._write(store, _steady_batch(app, 900, last_batch, pids))
        dumps.append(_rows(db))
    assert dumps[0] == dumps[1]
    with SQLiteStore(tmp_path / "True.db", read_only=True) as store:
        records = store.records()
        assert len(records) == 4 * 9 + last_batch and store.line_set_count() == 3
        last = [record for record in records if record.start >= 1700000000.0 + 900]
        assert [(record.kind, record.pid) for record in last] == [
            ("request", pids[number % len(pids)]) for number in range(last_batch)]


def test_rows_made_with_another_stores_sets_are_found_by_their_packing(tmp_path: Path, app: Path) -> None:
    """A row's set id holds in the store whose sets made it: written to
    another (the fallback, a store made anew at a moved one's path), each
    row's set is found again by its packing."""
    builder, writer = _writing(app, tmp_path / "first.db", "python")
    with SQLiteStore(tmp_path / "first.db") as first, SQLiteStore(tmp_path / "other.db") as other:
        # The other store holds a set of its own first: its ids are not the first store's.
        other.write([RequestRecord("elsewhere", lines={str(app / "big.py"): [9]})])
        for batch in range(3):
            writer._write(first, _steady_batch(app, 100 * batch))
        out: List[Any] = []
        items = _steady_batch(app, 900)
        builder.ready_rows(items, 0, out, first.known_sets)
        assert all(type(row[9]) is int for row in out)
        other.write(out, set_ids_from=first.known_sets)
        written = {record.test_id: record.lines for record in other.records()}
    assert written == {"elsewhere": {str(app / "big.py"): [9]},
                       **{item[0].test_id: {path: sorted(lines) for path, lines in item[0].collector.lines.items()}
                          for item in items}}


@pytest.mark.skipif(CORE is None, reason="the compiled core was not built")
def test_the_compiled_row_maker_gives_a_process_rows_one_fixed_tuple(app: Path) -> None:
    """The rows of this process's requests share one ``(kind, pid,
    has_arcs)`` object, which the store tells by identity in one C pass; a
    request of another process (one queued before a fork) gets its own."""
    path = _compiled_request_path()
    pid = os.getpid()
    path.set_finish(lambda finished: None, pid, REQUEST)
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions(),
                            ready_rows=path.ready_rows)
    builder.versions.new_batch()  # type: ignore[union-attr]
    for item in _steady_batch(app, 0):
        builder.build(item)
    batch = _steady_batch(app, 100, 6, (pid, 5151))
    rows: List[Any] = []
    assert builder.ready_rows(batch, 0, rows, {}) == len(batch)
    mine = [row[0] for row in rows if row[0][1] == pid]
    other = [row[0] for row in rows if row[0][1] == 5151]
    assert mine == [(REQUEST, pid, 0)] * 3 and all(fixed is mine[0] for fixed in mine)
    assert other == [(REQUEST, 5151, 0)] * 3 and all(fixed is not mine[0] for fixed in other)


def test_a_ready_row_without_a_test_id_is_named_in_a_copy(tmp_path: Path, app: Path) -> None:
    """The caller's rows stay as they were: a batch written again (after a
    failure) is named again, with new numbers, never an old one's."""
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions())
    builder.versions.new_batch()  # type: ignore[union-attr]
    items = _steady_batch(app, 0)
    for item in items:
        builder.build(item)
    untagged = _steady_batch(app, 100)[:2]
    for item in untagged:
        item[0].test_id = ""
    rows: List[Any] = []
    assert builder.ready_rows(untagged, 0, rows, {}) == 2
    with SQLiteStore(tmp_path / "store.db") as store:
        store.write(rows)
        assert [row[1] for row in rows] == ["", ""]
        store.write(rows)
        names = [record.test_id for record in store.records()]
    assert names == [f"GET /items/<id> #{number}" for number in (1, 2, 3, 4)]


def test_branch_coverage_makes_no_rows_directly(app: Path) -> None:
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=True, versions=FileVersions())
    items = _mixed_batch(app, 0)
    assert builder.ready_rows(items, 0, [], {}) == 0


def test_a_failing_row_maker_leaves_every_request_to_its_record(tmp_path: Path, app: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Rows made before the maker failed are written once, the rest of the
    batch and every later one go the long way, and the failure is said once."""
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions())
    calls = []

    def failing(items: List[Any], index: int, out: List[Any], set_ids: Dict[Any, Any]) -> int:
        calls.append(index)
        if len(calls) == 2:
            builder.ready_rows(items, index, out, set_ids)  # rows made, then the failure
            raise MemoryError("no room for a row")
        return builder.ready_rows(items, index, out, set_ids)

    db = tmp_path / "store.db"
    writer = BackgroundWriter(db, builder.convert, ready_rows=failing,
                              before_batch=builder.versions.new_batch)  # type: ignore[union-attr]
    with SQLiteStore(db) as store:
        for batch in range(3):
            writer._write(store, _mixed_batch(app, 100 * batch))
        test_ids = [record.test_id for record in store.records()]
    assert len(calls) == 2 and writer.ready_rows is None
    assert len(test_ids) == len(set(test_ids)) == 3 * (len(_mixed_batch(app, 0)) - 2)  # less the start-up items
    assert sum("could not make rows directly" in message for message in caplog.messages) == 1
