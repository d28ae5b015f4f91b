from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "labbook"
admin.site.site_title = "labbook"
admin.site.index_title = "Lab notebook"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("files/", include("labbook.files.urls")),
    path("api/", include("labbook.api.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
