"""/api/: one router for every app's viewsets, tokens, comparisons, the schema and offline docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from labbook.api.archives.views import ArchiveJobViewSet
from labbook.api.characterization.views import RunViewSet
from labbook.api.devices.views import DeviceViewSet, MeasurementViewSet
from labbook.api.files.views import RawFileViewSet
from labbook.api.jobs.views import JobViewSet
from labbook.api.notebook.views import EntryViewSet
from labbook.api.projects.views import ProjectViewSet
from labbook.api.results import views as results
from labbook.api.schema import CachedSchemaView
from labbook.api.synthesis import views as synthesis
from labbook.api.views import ComparisonView, ObtainTokenView, TokenViewSet

app_name = "api"

router = DefaultRouter()
router.register("projects", ProjectViewSet, basename="project")
router.register("chemicals", synthesis.ChemicalViewSet, basename="chemical")
router.register("batches", synthesis.BatchViewSet, basename="batch")
router.register("batch-links", synthesis.BatchLinkViewSet, basename="batchlink")
router.register("stocks", synthesis.StockViewSet, basename="stock")
router.register("treatments", synthesis.TreatmentViewSet, basename="treatment")
router.register("samples", synthesis.SampleViewSet, basename="sample")
router.register("runs", RunViewSet, basename="run")
router.register("devices", DeviceViewSet, basename="device")
router.register("measurements", MeasurementViewSet, basename="measurement")
router.register("entries", EntryViewSet, basename="entry")
router.register("files", RawFileViewSet, basename="rawfile")
router.register("jobs", JobViewSet, basename="job")
router.register("results/blinking", results.BlinkingAnalysisViewSet, basename="blinkinganalysis")
router.register("results/particles", results.ParticleViewSet, basename="particle")
router.register("results/lifetimes", results.LifetimeFitViewSet, basename="lifetimefit")
router.register("results/device-metrics", results.DeviceMetricsViewSet, basename="devicemetrics")
router.register("results/spectra", results.SpectrumResultViewSet, basename="spectrumresult")
router.register("results/xrd", results.XRDResultViewSet, basename="xrdresult")
router.register("results/artifacts", results.ResultArtifactViewSet, basename="resultartifact")
router.register("tokens", TokenViewSet, basename="token")
router.register("archive-jobs", ArchiveJobViewSet, basename="archivejob")

urlpatterns = [
    path("", include(router.urls)),
    path("tags/", include("labbook.api.tags")),  # a project's tags; add/remove a tag on a record
    path("auth/token/", ObtainTokenView.as_view(), name="obtain-token"),
    path("comparisons/", ComparisonView.as_view(), name="comparisons"),
    path("schema/", CachedSchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
