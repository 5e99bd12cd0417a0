"""Records that share a test key are one test: the union of their coverage."""

from requestcov.analysis.index import build_index
from requestcov.records import RequestRecord


def test_requests_of_one_test_are_merged_into_one_test() -> None:
    records = [
        RequestRecord(test_id="checkout", test_set="s", method="GET", route="/cart", status=200,
                      duration_ms=2.0, lines={"/app/a.py": [1, 2]}),
        RequestRecord(test_id="other", method="GET", route="/x", status=200, lines={"/app/a.py": [9]}),
        RequestRecord(test_id="checkout", test_set="s", method="POST", route="/pay", status=201,
                      duration_ms=3.0, lines={"/app/a.py": [2, 3], "/app/b.py": [7]}),
    ]
    index = build_index(records)
    assert [str(test.key) for test in index.tests] == ["s/checkout", "other"]
    checkout = index.tests[0]
    assert checkout.line_count == 4 and checkout.duration_ms == 5.0
    assert checkout.endpoint == "GET /cart"  # the first request names the test
    # The same key in another test set is another test.
    separate = build_index(records + [RequestRecord(test_id="checkout", test_set="t", lines={"/app/a.py": [1]})])
    assert [str(test.key) for test in separate.tests] == ["s/checkout", "other", "t/checkout"]
