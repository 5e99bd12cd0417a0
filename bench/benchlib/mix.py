"""The requests every load sends, the same for every app and mode.

Four endpoints in a fixed rotation: a catalogue query rendered as JSON, an
order quote (validation and pricing rules), an HTML sales report (sqlite3 join,
report builder, template) and a small user lookup. Latency is timed per full
rotation, so the number reported is the mean cost of a request of this mix,
not whichever endpoint happens to sit at the median.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List

TEST_ID_HEADER = "KEPLOY-TEST-ID"


@dataclass(frozen=True)
class Spec:
    method: str
    path: str
    query: str = ""
    body: bytes = b""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


_ORDER = {
    "customer": {"email": "buyer@example.com", "kind": "business"},
    "country": "FR",
    "coupon": "WELCOME10",
    "items": [{"sku": f"{prefix}-{number:04d}", "quantity": quantity}
              for prefix, number, quantity in (
                  ("TO", 0, 12), ("GA", 1, 2), ("KI", 2, 1), ("CL", 3, 4),
                  ("TO", 4, 1), ("GA", 5, 10), ("KI", 6, 3), ("CL", 7, 2))],
}

MIX: List[Spec] = [
    Spec("GET", "/api/products", "category=garden"),
    Spec("POST", "/api/quote", body=json.dumps(_ORDER).encode()),
    Spec("GET", "/report", "first=2024-05-01&last=2024-05-20"),
    Spec("GET", "/api/users/42"),
]
