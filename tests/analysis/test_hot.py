"""hot: requests, distinct paths and rare lines per endpoint."""

from __future__ import annotations

from requestcov.analysis.hot import UNKNOWN_ENDPOINT, hot_paths
from requestcov.analysis.index import build_index
from tests.analysis.builders import APP, record


def test_paths_are_counted_per_endpoint_most_frequent_first():
    records = [record(f"common-{number}", [1, 2, 3]) for number in range(19)]
    records.append(record("rare", [1, 2, 3, 40]))
    records += [record("post-1", [7], method="POST"), record("post-2", [8], method="POST")]
    index = build_index(records)
    traffic = hot_paths(index, rare=0.1)
    assert [item.endpoint for item in traffic] == ["GET /items", "POST /items"]
    get = traffic[0]
    assert get.requests == 20
    assert [path.count for path in get.paths] == [19, 1]
    assert [str(index.tests[test].key) for test in get.paths[1].tests] == ["rare"]
    # Line 40 ran in 1 of 20 requests (5% < 10%); the others in all of them.
    assert get.rare_lines == {APP: [40]}
    post = traffic[1]
    assert post.requests == 2 and [path.count for path in post.paths] == [1, 1]
    assert post.rare_lines == {}


def test_route_template_groups_different_paths():
    first = record("a", [1])
    first.path = "/items/1"
    second = record("b", [1])
    second.path = "/items/2"
    traffic = hot_paths(build_index([first, second]))
    assert [(item.endpoint, item.requests) for item in traffic] == [("GET /items", 2)]


def test_path_is_the_fallback_without_a_route_and_unknown_without_either():
    no_route = record("a", [1], route=None)
    nothing = record("b", [1], method="", route=None)
    nothing.path = ""
    traffic = hot_paths(build_index([no_route, nothing]))
    assert sorted(item.endpoint for item in traffic) == sorted(["GET /items", UNKNOWN_ENDPOINT])


def test_ties_between_paths_keep_record_order():
    traffic = hot_paths(build_index([record("x", [2]), record("y", [1]), record("z", [2])]), rare=0.0)
    (item,) = traffic
    assert [path.count for path in item.paths] == [2, 1]
    assert item.rare_lines == {}
