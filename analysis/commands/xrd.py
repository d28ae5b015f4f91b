"""``python -m analysis xrd FILE --out X.json``: XRD peaks and phase flags."""

from __future__ import annotations

import argparse
import dataclasses

from analysis.errors import AnalysisInputError
from analysis.readers import read_xrd
from analysis.units import parse_quantity
from analysis.xrd import (
    CU_KALPHA1_ANGSTROM,
    DEFAULT_REFERENCE_PEAKS,
    find_xrd_peaks,
    load_reference_peaks,
    phase_flags,
)

HELP = "find XRD peaks (.xrdml or 2theta/counts CSV) and flag phases (MAPbI3, MAPbCl3 at 15.6 deg, ...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="XRD scan: PANalytical .xrdml or two-column .xy/.csv/.txt")
    parser.add_argument(
        "--reference", help='JSON file of extra/overriding reference peaks: {"PHASE": [2theta, ...]}'
    )
    parser.add_argument("--tolerance", default="0.15deg", help="2theta match tolerance (default 0.15deg)")
    parser.add_argument(
        "--min-snr", default="5", help="peak height over counting noise of the background (default 5)"
    )


def run(args: argparse.Namespace) -> dict:
    tol = (
        parse_quantity(args.tolerance, dimension="[]", name="--tolerance", default_unit="deg")
        .to("deg")
        .magnitude
    )
    try:
        min_snr = float(args.min_snr)
    except ValueError:
        raise AnalysisInputError(f"--min-snr: {args.min_snr!r} is not a number") from None
    if not min_snr > 0:
        raise AnalysisInputError(f"--min-snr must be positive, got {args.min_snr!r}")
    reference = load_reference_peaks(args.reference) if args.reference else DEFAULT_REFERENCE_PEAKS
    pattern = read_xrd(args.file)
    wavelength = pattern.wavelength_angstrom or CU_KALPHA1_ANGSTROM
    peaks = find_xrd_peaks(
        pattern.two_theta_deg, pattern.intensity, min_snr=min_snr, wavelength_angstrom=wavelength
    )
    flags = phase_flags(peaks, reference, tolerance_deg=tol, wavelength_angstrom=wavelength)
    return {
        "peaks": [dataclasses.asdict(p) for p in peaks],
        "n_peaks": len(peaks),
        "phase_flags": {name: f.present for name, f in flags.items()},
        "phases": {name: {"present": f.present, "matches": f.matches} for name, f in flags.items()},
        "wavelength_angstrom": wavelength,
        "wavelength_from_file": pattern.wavelength_angstrom is not None,
        "two_theta_range_deg": [float(pattern.two_theta_deg[0]), float(pattern.two_theta_deg[-1])],
        "reference_peaks": reference,
        "file": str(args.file),
    }
