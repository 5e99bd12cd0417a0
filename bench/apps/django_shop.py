"""The shop on Django (WSGI), configured in this one file.

Settings come from ``settings.configure`` instead of a settings module, so the
app needs no project layout; the views query sqlite3 directly (Django's ORM is
not what is being measured) and render the report with Django templates.
"""

from __future__ import annotations

import json
import os

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
        ],
        INSTALLED_APPS=[],
        DATABASES={},
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [os.path.join(os.path.dirname(__file__), "templates")],
        }],
        USE_TZ=True,
    )
    django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponseNotAllowed, JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402

from apps import shop_db, shop_logic  # noqa: E402

shop_db.setup()


def products(request):
    category = request.GET.get("category", "tools")
    return JsonResponse({"products": shop_logic.present_products(shop_db.products_in(category))})


def quote(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        order = shop_logic.validate_order(json.loads(request.body))
    except shop_logic.ValidationError as error:
        return JsonResponse({"problems": error.problems}, status=422)
    catalogue = shop_db.catalogue_for([item["sku"] for item in order["items"]])
    return JsonResponse(shop_logic.quote_as_dict(shop_logic.price_order(order, catalogue)))


def report(request):
    first = request.GET.get("first", "2024-05-01")
    last = request.GET.get("last", "2024-05-31")
    built = shop_logic.build_report(shop_db.orders_between(first, last))
    return render(request, "report.html", {"report": built, "first": first, "last": last})


def user(request, user_id):
    described = shop_logic.describe_user(shop_db.customer(user_id))
    if described is None:
        return JsonResponse({"error": "no such user"}, status=404)
    return JsonResponse(described)


urlpatterns = [
    path("api/products", products),
    path("api/quote", quote),
    path("report", report),
    path("api/users/<int:user_id>", user),
]

application = get_wsgi_application()
