"""Oracle harness: the per-trace analysis on the shared validation movies, with detection taken from the truth.

Detection and drift are someone else's problem here: each true crystal's trace is the sum over its true
``footprint_px`` minus its area times the mean of a local background ring (the annulus between the
footprint dilated by 2 px and by 4 px, other crystals' footprints left out). What remains is what the
per-trace analysis (threshold, dwells, class, fits) and the population fits do with real-looking traces:
scored against the truth with the rules of ``../shared/validation/blinking/README.md``.

Used by ``tests/analysis/test_blinking_oracle.py`` and ``benchmarks/blinking_oracle.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

VALIDATION_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "validation" / "blinking").resolve()
MOVIES = ("v1-untreated", "v2-3pct", "v3-9pct-lowsnr", "v4-17pct")


@dataclass(frozen=True)
class OracleMovie:
    name: str
    truth: dict
    traces: np.ndarray  # (T, n) background-subtracted sums over the true footprints
    bin_time_s: float


def load_truth(name: str, folder: Path = VALIDATION_DIR) -> dict:
    return json.loads((folder / f"{name}.truth.json").read_text())


def footprint_traces(
    movie: np.ndarray, footprints: list[np.ndarray], *, ring: tuple[int, int] = (2, 4)
) -> np.ndarray:
    """Sum over each footprint minus its area times the mean of a background ring around it."""
    t, h, w = movie.shape
    flat = movie.reshape(t, -1).astype(np.float64)
    occupied = np.zeros((h, w), bool)
    masks = []
    for fp in footprints:
        m = np.zeros((h, w), bool)
        m[fp[:, 0], fp[:, 1]] = True
        masks.append(m)
        occupied |= m
    occupied_grown = ndimage.binary_dilation(occupied, iterations=1)
    out = np.empty((t, len(footprints)))
    for i, m in enumerate(masks):
        inner = ndimage.binary_dilation(m, iterations=ring[0])
        outer = ndimage.binary_dilation(m, iterations=ring[1])
        ann = outer & ~inner & ~occupied_grown
        if ann.sum() < 8:
            ann = outer & ~inner
        roi = flat[:, m.ravel()].sum(axis=1)
        bg = flat[:, ann.ravel()].mean(axis=1)
        out[:, i] = roi - m.sum() * bg
    return out


def load_oracle_movie(name: str, folder: Path = VALIDATION_DIR) -> OracleMovie:
    import tifffile

    truth = load_truth(name, folder)
    movie = tifffile.imread(folder / f"{name}.tif")
    fps = [np.asarray(p["footprint_px"], dtype=int) for p in truth["particles"]]
    return OracleMovie(name, truth, footprint_traces(movie, fps), float(truth["movie"]["bin_time_s"]))


def true_label(p: dict) -> str:
    return p["class"] if p["class"] != "qTSB" else f"qTSB/{p['subclass']}"


def label_of(analysis) -> str:
    c = analysis.trace_class
    return c.label if c.subclass is None else f"qTSB/{c.subclass}"


def _median(v) -> float:
    v = np.asarray([x for x in v if x is not None and np.isfinite(x)], float)
    return float(np.median(v)) if v.size else float("nan")


def score_oracle(
    om: OracleMovie, analyses: list, population: dict | None = None, *, min_events: int = 5
) -> dict:
    """Class accuracy (class and qTSB sub-class), mean ON/OFF and fraction ON errors, per the README's rules."""
    parts = om.truth["particles"]
    ok = [label_of(a) == true_label(p) for a, p in zip(analyses, parts, strict=True)]
    ok_class = [a.trace_class.label == p["class"] for a, p in zip(analyses, parts, strict=True)]
    err_on, err_off = [], []
    for a, p in zip(analyses, parts, strict=True):
        if p["n_on_events"] >= min_events and p["mean_on_s"]:
            m = a.dwells.on_s.mean() if a.dwells.on_s.size else np.nan
            err_on.append(abs(m - p["mean_on_s"]) / p["mean_on_s"])
        if p["n_off_events"] >= min_events and p["mean_off_s"]:
            m = a.dwells.off_s.mean() if a.dwells.off_s.size else np.nan
            err_off.append(abs(m - p["mean_off_s"]) / p["mean_off_s"])
    out = {
        "class_accuracy": float(np.mean(ok)),
        "class_accuracy_label_only": float(np.mean(ok_class)),
        "mean_on_rel_err": _median(err_on),
        "mean_off_rel_err": _median(err_off),
        "fraction_on_abs_err": _median(
            [abs(a.fraction_on - p["fraction_on"]) for a, p in zip(analyses, parts, strict=True)]
        ),
        "confusions": [
            (p["id"], true_label(p), label_of(a))
            for a, p, good in zip(analyses, parts, ok, strict=True)
            if not good
        ],
    }
    if population:
        out.update(population)
    return out
