"""Static files under content-hashed names, cached by browsers for a year.

After ``collectstatic`` (production, and ``make demo``), every ``{% static %}`` URL, BokehJS included,
names the file with a hash of its content (``bokeh.min.800b634530c9.js``), and WhiteNoise serves such
names with ``Cache-Control: max-age=315360000, public, immutable``: a new version is a new URL, so a
browser never asks twice. Without ``collectstatic`` (tests, a bare ``runserver``) the manifest is
missing and the plain names are used, served from the packages by the finders with a short max-age.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def stored_name(self, name):
        # Django's fallback for a name missing from the manifest hashes the file in STATIC_ROOT, which
        # fails (or hashes a stale copy) when collectstatic did not run: the plain name instead.
        if self.hashed_files.get(self.hash_key(urlsplit(unquote(name)).path.strip())) is None:
            return name
        return super().stored_name(name)
