from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponseRedirect
from django.urls import path

from labbook.pages import search, views

app_name = "pages"


def favicon(request):
    """Browsers ask for /favicon.ico whatever a page links: the static file, under its hashed name."""
    return HttpResponseRedirect(staticfiles_storage.url("pages/favicon.ico"))


urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("compare/", views.compare, name="compare"),
    path("jobs/status.json", views.jobs_status, name="jobs-status"),
    path("particles/", views.particle_list, name="particle-list"),
    path("particles/<int:pk>/", views.particle_detail, name="particle-detail"),
    path("search/", search.search, name="search"),
    path("favicon.ico", favicon, name="favicon"),
]
