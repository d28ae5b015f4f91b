"""Writes for photodetector devices and their measurements: the only writers (API, admin, and
ingest through :func:`labbook.files.services.raw_files_attach`).

Each service checks the user's role in the project (editor or admin) and the freeze, refuses an
update without the ``version`` it is based on (409 on a stale one), validates with
``full_clean()``, writes in one transaction with history saying who and why. A device's samples
and raw files, and a measurement's raw files, must be in its project.
"""

from __future__ import annotations

from django.db import transaction

from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.services import linked_record_create, linked_record_delete, linked_record_update
from labbook.projects.models import Project
from labbook.projects.writes import RecordWriters


# --- devices -----------------------------------------------------------------------------------
@transaction.atomic
def device_create(
    *, user, project: Project, code: str, active_area, fabricated_on, reason: str = "", **fields
) -> Device:
    """Record a device; ``fields`` may give ``samples`` (its active layer's) and ``raw_files``."""
    return linked_record_create(
        Device,
        user=user,
        project=project,
        reason=reason,
        code=code,
        active_area=active_area,
        fabricated_on=fabricated_on,
        **fields,
    )


@transaction.atomic
def device_update(*, user, device: Device, version, reason: str = "", **changes) -> Device:
    return linked_record_update(device, user=user, version=version, reason=reason, **changes)


@transaction.atomic
def device_delete(*, user, device: Device, reason: str = "") -> None:
    """Delete a device with its measurements."""
    linked_record_delete(device, user=user, reason=reason)


# --- measurements ------------------------------------------------------------------------------
@transaction.atomic
def measurement_create(
    *,
    user,
    device: Device,
    kind: str,
    date,
    project: Project | None = None,
    reason: str = "",
    **fields,
) -> DeviceMeasurement:
    """Record a measurement of ``device`` (in the device's project unless given)."""
    return linked_record_create(
        DeviceMeasurement,
        user=user,
        project=project or device.project,
        reason=reason,
        device=device,
        kind=kind,
        date=date,
        **fields,
    )


@transaction.atomic
def measurement_update(
    *, user, measurement: DeviceMeasurement, version, reason: str = "", **changes
) -> DeviceMeasurement:
    return linked_record_update(measurement, user=user, version=version, reason=reason, **changes)


@transaction.atomic
def measurement_delete(*, user, measurement: DeviceMeasurement, reason: str = "") -> None:
    linked_record_delete(measurement, user=user, reason=reason)


devices = RecordWriters(device_create, device_update, device_delete, "device")
measurements = RecordWriters(measurement_create, measurement_update, measurement_delete, "measurement")
