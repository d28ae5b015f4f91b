"""``python -m analysis photodetector FILE --out M.json``: photodetector figures of merit."""

from __future__ import annotations

import argparse

import numpy as np

from analysis.errors import AnalysisInputError
from analysis.photodetector import (
    RESOLVED_SAMPLES,
    iv_currents_at_bias,
    photoresponse_metrics,
    responsivity_a_per_w,
)
from analysis.readers import read_electrical
from analysis.units import parse_quantity

HELP = (
    "dark/photo current, on/off ratio, rise/fall times, responsivity from a Keithley CSV (time series or I-V)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Keithley 2400 CSV: photoresponse time series, or dark/light I-V sweep")
    parser.add_argument("--area", help="active device area, e.g. 0.1cm^2 (for the responsivity)")
    parser.add_argument("--power", help="incident power density, e.g. 30mW/cm^2 (for the responsivity)")
    parser.add_argument("--bias", default="1V", help="bias at which I-V currents are read (default 1V)")
    parser.add_argument(
        "--detect-light",
        action="store_true",
        help="detect light on/off from the current even if the file has a light column",
    )


def run(args: argparse.Namespace) -> dict:
    area = power = None
    if args.area is not None:
        area = parse_quantity(args.area, dimension="[area]", name="--area").to("cm^2").magnitude
        if not area > 0:
            raise AnalysisInputError(f"--area must be positive, got {args.area!r}")
    if args.power is not None:
        power = parse_quantity(args.power, dimension="W/m^2", name="--power").to("W/cm^2").magnitude
        if not power > 0:
            raise AnalysisInputError(f"--power must be positive, got {args.power!r}")
    bias = parse_quantity(args.bias, dimension="[electric_potential]", name="--bias").to("V").magnitude
    data = read_electrical(args.file)
    if data.is_time_series:
        light = None if args.detect_light or data.light is None else data.light > 0.5
        m = photoresponse_metrics(
            data.time_s, data.current_A, light_on=light, power_density_w_per_cm2=power, area_cm2=area
        )
        return {
            "dark_current_A": m.dark_current_A,
            "photocurrent_A": m.photocurrent_A,
            "on_off_ratio": m.on_off_ratio,
            "rise_time_s": m.rise_time_s,
            "fall_time_s": m.fall_time_s,
            "responsivity_A_per_W": m.responsivity_A_per_W,
            "light_current_A": m.light_current_A,
            "rise_times_s": m.rise_times_s,
            "fall_times_s": m.fall_times_s,
            "rise_time_resolved": m.rise_time_resolved,
            "fall_time_resolved": m.fall_time_resolved,
            "sampling_interval_s": m.sampling_interval_s,
            "time_resolution_limit_s": RESOLVED_SAMPLES * m.sampling_interval_s,
            "n_cycles": m.n_cycles,
            "cycle_photocurrents_A": m.cycle_photocurrents_A,
            "photocurrent_cv": m.photocurrent_cv,
            "photocurrent_drift": m.photocurrent_drift,
            "light_states": m.light_states,
            "measurement": "photoresponse",
            "area_cm2": area,
            "power_density_W_per_cm2": power,
            "file": str(args.file),
        }
    if data.is_iv:
        dark, light = data.current_dark_A, data.current_light_A
        if dark is None and light is None:
            raise AnalysisInputError(
                f"{args.file}: I-V file needs 'Current dark' and/or 'Current light' columns to tell dark from light"
            )
        iv = iv_currents_at_bias(data.voltage_V, dark, light, bias)
        resp = None
        if iv.photocurrent_A is not None and area is not None and power is not None:
            resp = responsivity_a_per_w(iv.photocurrent_A, power, area)
        ratio = iv.on_off_ratio if iv.dark_current_A is not None and iv.dark_current_A > 0 else None
        return {
            "dark_current_A": iv.dark_current_A,
            "photocurrent_A": iv.photocurrent_A,
            "on_off_ratio": ratio,
            "rise_time_s": None,
            "fall_time_s": None,
            "responsivity_A_per_W": resp,
            "light_current_A": iv.light_current_A,
            "bias_V": iv.bias_V,
            "voltage_range_V": [float(np.min(data.voltage_V)), float(np.max(data.voltage_V))],
            "measurement": "iv",
            "area_cm2": area,
            "power_density_W_per_cm2": power,
            "file": str(args.file),
        }
    raise AnalysisInputError(
        f"{args.file}: neither a time series (time, current) nor an I-V sweep (voltage, current)"
    )
