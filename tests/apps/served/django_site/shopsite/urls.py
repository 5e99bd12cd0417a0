from django.urls import path

from shop import views

urlpatterns = [
    path("hello", views.hello),
    path("users/<int:user_id>", views.user),
    path("price/<str:country>", views.price),
    path("cart/total", views.cart_total),
    path("stream/<int:count>", views.stream),
    path("boom", views.boom),
]
