"""Only the admin: these tests need nothing else, and must not depend on URLs built elsewhere."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
