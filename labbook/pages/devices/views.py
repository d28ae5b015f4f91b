"""Photodetector pages: list, and a device with its measurements, metrics and curves."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from labbook.devices.filters import DeviceFilterSet
from labbook.devices.models import Device
from labbook.pages.lists import filtered_list
from labbook.pages.records import KINDS
from labbook.projects.permissions import can_edit
from labbook.projects.selectors import visible
from labbook.units import format_quantity


def _si(q) -> str:
    """A quantity with a compact SI prefix (22 nA, 97 ms); '' for None."""
    return "" if q is None else f"{q.to_compact():.3g~P}"


@login_required
def device_list(request):
    return filtered_list(
        request,
        title="Devices",
        filterset_class=DeviceFilterSet,
        queryset=visible(Device, request.user)
        .select_related("project")
        .prefetch_related("samples__treatment"),
        quick=["q", "treatment_nominal_cl", "fabricated_on__gte"],
        columns=[
            ("code", "code"),
            ("architecture", "architecture"),
            ("active area", "active_area"),
            "made from",
            ("fabricated on", "fabricated_on"),
        ],
        row=lambda d: (
            reverse("devices:device-detail", args=[d.pk]),
            [
                d.code,
                d.architecture,
                format_quantity(d.active_area, "cm^2"),
                ", ".join(str(s.treatment or s) for s in d.samples.all()),
                d.fabricated_on,
            ],
        ),
        kind=KINDS["devices"],
    )


@login_required
def device_detail(request, pk: int):
    from labbook.pages import plots

    device = get_object_or_404(visible(Device, request.user), pk=pk)
    measurements = device.measurements.prefetch_related("raw_files", "metrics", "jobs").all()
    figure = plots.device_figure(list(measurements), title=device.code)
    rows = []
    for m in measurements:
        x = next(iter(m.metrics.all()), None)
        rows.append(
            {
                "m": m,
                "photocurrent": _si(x and x.photocurrent),
                "dark": _si(x and x.dark_current),
                "on_off": "" if x is None or x.on_off_ratio is None else f"{x.on_off_ratio:.3g}",
                "rise_fall": ""
                if x is None or x.rise_time is None
                else f"{_si(x.rise_time)} / {_si(x.fall_time)}",
                "responsivity": _si(x and x.responsivity),
            }
        )
    return render(
        request,
        "devices/device_detail.html",
        {
            "device": device,
            "area": format_quantity(device.active_area, "cm^2"),
            "samples": device.samples.select_related("treatment"),
            "rows": rows,
            "plot": plots.embed(figure) if figure is not None else None,
            "entries": device.entries.all()[:20],
            "can_write": can_edit(request.user, device),
        },
    )
