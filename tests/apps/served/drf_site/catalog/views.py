"""Each kind of DRF view: a function with ``@api_view``, an ``APIView``, and
viewsets behind a ``DefaultRouter`` (a detail route and an extra action)."""

from rest_framework import viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import logic, sync_point


@api_view(["GET"])
def hello(request):
    return Response("hello")


class PriceView(APIView):
    def get(self, request, country):
        sync_point.rendezvous(request.query_params.get("group", ""), int(request.query_params.get("parties", "1")))
        return Response({"price": logic.price_with_tax(100, country)})


class UserViewSet(viewsets.ViewSet):
    def list(self, request):
        return Response([logic.describe_user(user_id) for user_id in (1, 2)])

    def retrieve(self, request, pk=None):
        user_id = int(pk)
        if user_id > 100:
            raise NotFound("no such user")
        return Response(logic.describe_user(user_id))


class CartViewSet(viewsets.ViewSet):
    @action(detail=False, methods=["post"])
    def total(self, request):
        return Response({"total": logic.total(request.data["items"])})


@api_view(["GET"])
def boom(request):
    raise RuntimeError("handler failed")
