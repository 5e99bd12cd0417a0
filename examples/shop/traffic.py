"""Send the demo's recorded API tests to the shop, each with its Keploy test id.

Some tests are deliberate duplicates of others (the same code path), as in
any suite recorded from real traffic; requestcov's dedup finds them.
"""

import json
import sys
import urllib.error
import urllib.request

TESTS = [
    ("GET", "/health", None),
    ("GET", "/products", None),
    ("GET", "/products?category=food", None),
    ("GET", "/products?category=home", None),
    ("GET", "/products/1", None),
    ("GET", "/products/2", None),
    ("GET", "/products/99", None),
    ("POST", "/quote", {"items": [{"id": 1, "quantity": 2}], "country": "DE"}),
    ("POST", "/quote", {"items": [{"id": 1, "quantity": 3}], "country": "DE"}),
    ("POST", "/quote", {"items": [{"id": 2, "quantity": 5}], "country": "FR"}),
    ("POST", "/quote", {"items": [{"id": 4, "quantity": 12}], "country": "US"}),
    ("POST", "/quote", {"items": [{"id": 3, "quantity": 1}], "country": "DE"}),
    ("POST", "/quote", {"items": [{"id": 5, "quantity": 1}], "country": "JP"}),
    ("POST", "/quote", {"items": [{"id": 42}], "country": "DE"}),
    ("GET", "/health", None),
]


def main(base_url: str) -> int:
    failures = 0
    for number, (method, path, body) in enumerate(TESTS, start=1):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            base_url + path, data=data, method=method,
            headers={"KEPLOY-TEST-ID": f"test-{number}", "KEPLOY-TEST-SET-ID": "test-set-0",
                     "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            print(f"test-{number}: {method} {path} failed: {error}")
            failures += 1
            continue
        print(f"test-{number}: {method} {path} -> {status}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5055"))
