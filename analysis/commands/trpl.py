"""``python -m analysis trpl DECAY --out FIT.json``: multi-exponential TRPL/TCSPC decay fit."""

from __future__ import annotations

import argparse

from analysis.errors import AnalysisInputError
from analysis.lifetime import MAX_COMPONENTS, fit_decay
from analysis.readers import read_decay
from analysis.units import parse_quantity

HELP = "fit 1-4 exponentials to a TCSPC decay (.csv/.phu/.ptu/.sdt), reconvolved with an IRF"


def fit_json(fit) -> dict:
    """The fit's part of the command's JSON contract (also what an analysis job stores)."""
    out = {
        "taus_ns": fit.taus_ns,
        "taus_err_ns": fit.taus_err_ns,
        "amplitudes": fit.amplitudes,
        "tau_avg_amp_ns": fit.tau_avg_amp_ns,
        "tau_avg_int_ns": fit.tau_avg_int_ns,
        "chi2_red": fit.chi2_red,
    }
    out.update({k: v for k, v in fit.summary().items() if k not in out})
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decay", help="decay histogram: .csv/.txt (time, counts), .phu, .ptu or .sdt")
    parser.add_argument("--irf", help="measured IRF histogram (same bin width); default: fitted Gaussian IRF")
    parser.add_argument("--tail", action="store_true", help="tail fit after the peak, without IRF")
    parser.add_argument(
        "--components", default="3", help=f"number of exponentials, 1-{MAX_COMPONENTS} (default 3)"
    )
    parser.add_argument(
        "--rep-rate",
        help="laser repetition rate for the pile-over, e.g. 1MHz (default: from the file, else none)",
    )
    parser.add_argument(
        "--method", default="mle", help="mle (Poisson likelihood, default) or wls (Neyman chi2)"
    )
    parser.add_argument("--fit-range", help="fitted time window, e.g. '5ns:400ns' (default: whole histogram)")
    parser.add_argument(
        "--curve", default="0", help="histogram/channel index in multi-curve files (default 0)"
    )


def _int(text: str, name: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise AnalysisInputError(f"{name}: {text!r} is not an integer") from None
    if not lo <= value <= hi:
        raise AnalysisInputError(f"{name}: {value} is out of range, expected {lo}-{hi}")
    return value


def _fit_range(text: str | None):
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise AnalysisInputError(f"--fit-range: {text!r} is not START:STOP, e.g. '5ns:400ns'")
    start, stop = (
        parse_quantity(p, dimension="[time]", name="--fit-range", default_unit="ns").to("ns").magnitude
        for p in parts
    )
    if not stop > start:
        raise AnalysisInputError(f"--fit-range: stop must be after start in {text!r}")
    return (float(start), float(stop))


def run(args: argparse.Namespace) -> dict:
    n_components = _int(args.components, "--components", 1, MAX_COMPONENTS)
    curve = _int(args.curve, "--curve", 0, 10_000)
    if args.method not in ("mle", "wls"):
        raise AnalysisInputError(f"--method: {args.method!r}, expected 'mle' or 'wls'")
    if args.tail and args.irf:
        raise AnalysisInputError("--tail and --irf exclude each other")
    fit_range = _fit_range(args.fit_range)
    rep_rate = None
    if args.rep_rate is not None:
        rep_rate = (
            parse_quantity(args.rep_rate, dimension="[frequency]", name="--rep-rate").to("Hz").magnitude
        )
        if not rep_rate > 0:
            raise AnalysisInputError(f"--rep-rate must be positive, got {args.rep_rate!r}")
    decay = read_decay(args.decay, curve=curve)
    rep_rate_source = "--rep-rate" if rep_rate is not None else "none"
    if rep_rate is None and decay.rep_rate_hz is not None:
        rep_rate, rep_rate_source = decay.rep_rate_hz, "file"
    irf = None if args.tail else "gaussian"
    if args.irf:
        irf_hist = read_decay(args.irf)
        if abs(irf_hist.bin_width_ns - decay.bin_width_ns) > 1e-4 * decay.bin_width_ns:
            raise AnalysisInputError(
                f"{args.irf}: IRF bin width {irf_hist.bin_width_ns:g} ns differs from the decay's "
                f"{decay.bin_width_ns:g} ns"
            )
        if irf_hist.counts.size != decay.counts.size:
            raise AnalysisInputError(
                f"{args.irf}: IRF has {irf_hist.counts.size} bins, the decay {decay.counts.size}"
            )
        irf = irf_hist.counts
    fit = fit_decay(
        decay.time_ns,
        decay.counts,
        n_components,
        irf=irf,
        rep_rate_hz=rep_rate,
        method=args.method,
        fit_range_ns=fit_range,
    )
    out = fit_json(fit)
    out.update(
        {
            "file": str(args.decay),
            "irf_file": args.irf,
            "n_components": n_components,
            "rep_rate_source": rep_rate_source,  # "none": no pile-over correction was applied
        }
    )
    return out
