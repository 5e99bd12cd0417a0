"""The requests every load sends, the same for every app and mode.

``MIX``, for the shop apps: four endpoints in a fixed rotation: a catalogue
query rendered as JSON, an order quote (validation and pricing rules), an HTML
sales report (sqlite3 join, report builder, template) and a small user lookup.
``THIN_MIX``, for the thin apps: a health check, a small JSON GET, a small
validated POST and a 404, each a handful of app lines, so what a recorder
costs per request regardless of the lines it records shows undiluted.
Latency is timed per full rotation, so the number reported is the mean cost
of a request of the mix, not whichever endpoint happens to sit at the median.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, List

TEST_ID_HEADER = "KEPLOY-TEST-ID"


@dataclass(frozen=True)
class Spec:
    method: str
    path: str
    query: str = ""
    body: bytes = b""
    #: The status the app must answer (a load that gets another one stops).
    expect: int = 200

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

#: The thin apps' rotation (bench/apps/flask_thin.py, starlette_thin.py).
THIN_MIX: List[Spec] = [
    Spec("GET", "/health"),
    Spec("GET", "/api/items/7"),
    Spec("POST", "/api/items", body=json.dumps({"name": "widget", "quantity": 3}).encode(), expect=201),
    Spec("GET", "/api/nowhere", expect=404),
]

#: Mix name -> requests; an app names its mix in ``benchlib.modes.APPS``.
MIXES: Dict[str, List[Spec]] = {"shop": MIX, "thin": THIN_MIX}
