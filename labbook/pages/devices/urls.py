from django.urls import path

from labbook.pages.devices import views

app_name = "devices"
urlpatterns = [
    path("devices/", views.device_list, name="device-list"),
    path("devices/<int:pk>/", views.device_detail, name="device-detail"),
]
