"""The API's URLs alone (with the file downloads it links to), so these tests do not depend on
the HTML pages' URLs."""

from django.urls import include, path

urlpatterns = [
    path("files/", include("labbook.pages.files.urls")),
    path("api/", include("labbook.api.urls")),
]
