"""The OpenAPI schema, generated once per process.

drf-spectacular builds the schema from every viewset, serializer and filter on each request, then renders
it as YAML or JSON: 1.1 s for labbook's 430 kB, which the API docs page fetches every time it opens. The schema depends only on the
code (it is public to every logged-in user: SERVE_PUBLIC), its version and language, so it is kept per
``(version, lang, format)``, rendered, for the life of the process; a deploy restarts the processes with the new code.
At most ``MAX_KEPT`` of them: ``?version=`` and ``?lang=`` are free text, and a caller must not be able
to fill the memory with schemas (beyond that they are generated each time, as before).
"""

from __future__ import annotations

import threading

from django.http import HttpResponse
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView

_lock = threading.Lock()
_schemas: dict[tuple, tuple[bytes, str]] = {}
MAX_KEPT = 4


class CachedSchemaView(SpectacularAPIView):
    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        renderer, media_type = self.perform_content_negotiation(request)
        key = (version, translation.get_language(), self.serve_public, renderer.format, media_type)
        with _lock:
            kept = _schemas.get(key)
            if kept is None:
                generator = self.generator_class(
                    urlconf=self.urlconf, api_version=version, patterns=self.patterns
                )
                data = generator.get_schema(request=request, public=self.serve_public)
                body = renderer.render(data, media_type, self.get_renderer_context())
                content_type = f"{media_type}; charset={renderer.charset}" if renderer.charset else media_type
                kept = (body, content_type)
                if len(_schemas) < MAX_KEPT:
                    _schemas[key] = kept
        response = HttpResponse(kept[0], content_type=kept[1])
        response["Content-Disposition"] = f'inline; filename="{self._get_filename(request, version)}"'
        return response
