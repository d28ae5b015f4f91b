"""Filters for raw files."""

from labbook.files.models import RawFile
from labbook.filters import RECORD_FIELDS, LabFilterSet, lookups_for


class RawFileFilterSet(LabFilterSet):
    class Meta:
        model = RawFile
        fields = lookups_for(
            RawFile, *RECORD_FIELDS, "sha256", "size", "original_name", "media_type", "description"
        )
