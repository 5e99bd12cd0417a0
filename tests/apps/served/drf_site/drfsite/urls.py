from django.urls import include, path
from rest_framework.routers import DefaultRouter

from catalog import views

router = DefaultRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("carts", views.CartViewSet, basename="cart")

urlpatterns = [
    path("hello", views.hello),
    path("price/<str:country>", views.PriceView.as_view()),
    path("boom", views.boom),
    path("api/", include(router.urls)),
]
