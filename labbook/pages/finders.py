"""Static file finders that treat a path escaping their folders (``/static/../settings.py``,
``/static/%2e%2e/...``) as not found.

Django's finders raise SuspiciousFileOperation for such a path; the development server's static
handler (``runserver``, the demo) lets it through as a 500. A 404 says the same to everyone.
"""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation


class _NotFoundOutside:
    def find(self, path, find_all=False, **kwargs):
        try:
            return super().find(path, find_all=find_all, **kwargs)
        except SuspiciousFileOperation:
            return []  # what Django's finders answer for "no match"


class FileSystemFinder(_NotFoundOutside, finders.FileSystemFinder):
    pass


class AppDirectoriesFinder(_NotFoundOutside, finders.AppDirectoriesFinder):
    pass
