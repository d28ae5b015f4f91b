from django.apps import AppConfig
from django.contrib.staticfiles.apps import StaticFilesConfig


class PagesConfig(AppConfig):
    name = "labbook.pages"
    verbose_name = "pages"


class LabbookStaticFilesConfig(StaticFilesConfig):
    """Static files without BokehJS's unminified bundles, sources and type declarations: the pages
    load only ``*.min.js``, and WhiteNoise's manifest storage would fail collectstatic on their
    missing source maps."""

    ignore_patterns = [
        *StaticFilesConfig.ignore_patterns,
        "compiler.js",
        "bokeh.js",
        "bokeh-api.js",
        "bokeh-gl.js",
        "bokeh-mathjax.js",
        "bokeh-tables.js",
        "bokeh-widgets.js",
        "*.d.ts",
        "lib",
    ]
