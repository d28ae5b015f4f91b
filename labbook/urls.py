from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "labbook"
admin.site.site_title = "labbook"
admin.site.index_title = "Lab notebook"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("files/", include("labbook.pages.files.urls")),
    path("", include("labbook.pages.printing_urls")),
    path("api/", include("labbook.api.urls")),
    path("archives/", include("labbook.archives.urls")),
    path("", include("labbook.recipes.urls")),  # /templates/ and /tags/
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("labbook.pages.synthesis.urls")),
    path("", include("labbook.pages.record_urls")),
    path("", include("labbook.pages.characterization.urls")),
    path("", include("labbook.pages.devices.urls")),
    path("", include("labbook.pages.notebook.urls")),
    path("", include("labbook.pages.urls")),
]
