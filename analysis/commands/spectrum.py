"""``python -m analysis spectrum FILE --kind pl|abs --out S.json``: PL peak or absorption band gap."""

from __future__ import annotations

import argparse

from analysis.errors import AnalysisInputError
from analysis.readers import read_spectrum
from analysis.spectra import pl_peak_metrics, tauc_band_gap
from analysis.units import parse_quantity

HELP = (
    "PL peak/FWHM/integral (--kind pl) or absorption edge and Tauc band gap (--kind abs) from a spectrum CSV"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="two-column spectrum export (Lambda 950, FLS980 or x-y CSV/TXT)")
    parser.add_argument("--kind", required=True, help="pl (emission) or abs (absorbance)")
    parser.add_argument(
        "--baseline", help="pl: edges (default), none or a number; abs: auto (default), none or a number"
    )
    parser.add_argument("--transition", default="direct", help="abs: direct (default, MAPbI3) or indirect")
    parser.add_argument("--window", default="0.1eV", help="abs: width of the Tauc fit window (default 0.1eV)")


def _baseline(text, default):
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> dict:
    kind = args.kind.lower()
    if kind not in ("pl", "abs"):
        raise AnalysisInputError(f"--kind: {args.kind!r}, expected 'pl' or 'abs'")
    window_ev = None
    if kind == "abs":
        window_ev = parse_quantity(args.window, dimension="[energy]", name="--window").to("eV").magnitude
    spec = read_spectrum(args.file)
    out = {
        "kind": kind,
        "file": str(args.file),
        "y_label": spec.y_label,
        "n_points": int(spec.wavelength_nm.size),
    }
    if kind == "pl":
        p = pl_peak_metrics(spec.wavelength_nm, spec.intensity, baseline=_baseline(args.baseline, "edges"))
        out.update(
            peak_nm=p.peak_nm,
            peak_ev=p.peak_ev,
            fwhm_nm=p.fwhm_nm,
            fwhm_ev=p.fwhm_ev,
            peak_height=p.peak_height,
            integrated_intensity=p.integrated_intensity,
            baseline=p.baseline,
        )
    else:
        g = tauc_band_gap(
            spec.wavelength_nm,
            spec.intensity,
            transition=args.transition,
            baseline=_baseline(args.baseline, "auto"),
            window_ev=window_ev,
        )
        out.update(
            band_gap_ev=g.band_gap_ev,
            band_gap_nm=g.band_gap_nm,
            transition=g.transition,
            tauc_fit_range_ev=list(g.fit_range_ev),
            tauc_r_squared=g.r_squared,
            absorption_edge_ev=g.absorption_edge_ev,
            absorption_edge_nm=g.absorption_edge_nm,
            baseline=g.baseline_value,
        )
    return out
