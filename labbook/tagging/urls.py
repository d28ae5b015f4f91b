from django.urls import path

from labbook.tagging import views

app_name = "tagging"

urlpatterns = [
    path("add/", views.tag_add, name="add"),
    path("remove/", views.tag_remove, name="remove"),
]
