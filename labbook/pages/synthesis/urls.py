from django.urls import path

from labbook.pages.synthesis import views

app_name = "synthesis"
urlpatterns = [
    path("batches/", views.batch_list, name="batch-list"),
    path("batches/new/", views.batch_create, name="batch-create"),
    path("batches/<int:pk>/", views.batch_detail, name="batch-detail"),
    path("batches/<int:pk>/clone/", views.batch_clone, name="batch-clone"),
    path("batches/<int:pk>/split/", views.batch_split, name="batch-split"),
    path("batches/pool/", views.batch_pool, name="batch-pool"),
    path("treatments/", views.treatment_list, name="treatment-list"),
    path("treatments/new/", views.treatment_create, name="treatment-create"),
    path("treatments/derive/", views.treatment_derive, name="treatment-derive"),
    path("treatments/<int:pk>/", views.treatment_detail, name="treatment-detail"),
    path("samples/", views.sample_list, name="sample-list"),
    path("samples/<int:pk>/", views.sample_detail, name="sample-detail"),
]
