"""Django REST framework under gunicorn, recorded by ``requestcov run`` with
no change to the project: the Django integration names each route from
Django's URL resolver, so a function view with ``@api_view``, an ``APIView``
and the viewsets a ``DefaultRouter`` routes (a detail route, a list, an extra
action) are each named by the pattern that matched."""

from __future__ import annotations

import sys
from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Spec, tool
from tests.support.matrix import heavy

pytest.importorskip("rest_framework")
pytestmark = [pytest.mark.slow, heavy]

DRF_SITE = SERVED / "drf_site"
#: DefaultRouter's patterns are regular expressions; Django joins them to the include's prefix.
USER_DETAIL = "api/users/(?P<pk>[^/.]+)/$"

SPECS = [
    Spec("hello", "GET", "/hello", 200, "hello", runs=(("views.py", 'return Response("hello")'),)),
    Spec("user-even", "GET", "/api/users/4/", 200, USER_DETAIL,
         runs=(("logic.py", 'kind = "even"'),), skips=(("logic.py", 'kind = "odd"'),)),
    Spec("user-missing", "GET", "/api/users/500/", 404, USER_DETAIL,
         runs=(("views.py", 'raise NotFound("no such user")'),), skips=(("logic.py", "def describe_user"),)),
    Spec("user-list", "GET", "/api/users/", 200, "api/users/$", runs=(("views.py", "for user_id in (1, 2)"),)),
    Spec("api-root", "GET", "/api/", 200, "api/"),
    Spec("price-de", "GET", "/price/DE", 200, "price/<str:country>", waiting_path="/price/DE",
         runs=(("logic.py", "rate = 0.19"),), skips=(("logic.py", "rate = 0.20"),)),
    Spec("cart", "POST", "/api/carts/total/", 200, "api/carts/total/$",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("logic.py", "continue"),)),
    Spec("boom", "GET", "/boom", 500, "boom", runs=(("views.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "gunicorn-gthread": (
        lambda port: [tool("gunicorn"), "-w", "1", "--threads", "8", "-b", f"127.0.0.1:{port}", "drfsite.wsgi"], 2,
    ),
}

APP_ROOT = DRF_SITE
#: A single-process server coverage.py measures alone.
ORACLE = lambda port: [sys.executable, "manage.py", "runserver", "--noreload", str(port)]  # noqa: E731
