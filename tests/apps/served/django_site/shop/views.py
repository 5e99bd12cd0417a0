import json

from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from shop import logic, sync_point


def hello(request):
    return HttpResponse("hello")


def user(request, user_id):
    if user_id > 100:
        raise Http404("no such user")
    return JsonResponse(logic.describe_user(user_id))


def price(request, country):
    sync_point.rendezvous(request.GET.get("group", ""), int(request.GET.get("parties", "1")))
    return JsonResponse({"price": logic.price_with_tax(100, country)})


@csrf_exempt
def cart_total(request):
    items = json.loads(request.body)["items"]
    return JsonResponse({"total": logic.total(items)})


def stream(request, count):
    return StreamingHttpResponse(logic.countdown(count), content_type="text/plain")


def boom(request):
    raise RuntimeError("handler failed")
