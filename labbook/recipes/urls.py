"""/templates/ (the template pages, namespace ``recipes``) and /tags/ (the tag form's add/remove,
namespace ``tagging``), in one include of labbook/urls.py."""

from django.urls import include, path

from labbook.recipes import views

template_patterns = [
    path("", views.template_list, name="template-list"),
    path("new/", views.template_create, name="template-create"),
    path("<int:pk>/edit/", views.template_edit, name="template-edit"),
    path("<int:pk>/delete/", views.template_delete, name="template-delete"),
    path("<int:pk>/use/", views.template_use, name="template-use"),
    path("<int:pk>/apply/", views.series_apply, name="series-apply"),
]

urlpatterns = [
    path("templates/", include((template_patterns, "recipes"))),
    path("tags/", include("labbook.tagging.urls")),
]
