"""Compare a blinking analysis with the ground truth of a simulated movie.

The rules are those of the validation movies' README (``../shared/validation/blinking/README.md``), so
the same function scores the project's own simulator (:mod:`analysis.simulate`) and the independent
one: a detected particle matches a true crystal when their centroids are within ``match_px`` (one to
one, closest pairs first); recall counts the *detectable* crystals; precision counts every detection
(debris and hot pixels count against it); the other figures are over matched crystals.
"""

from __future__ import annotations

import numpy as np

from analysis.blinking.fits import fit_truncated_power_law

__all__ = ["match_particles", "score_blinking"]


def match_particles(
    detected_yx: np.ndarray, true_yx: np.ndarray, *, match_px: float = 2.5
) -> list[tuple[int, int]]:
    """One-to-one matches ``(i_detected, j_true)`` within ``match_px``, closest pairs first."""
    a = np.asarray(detected_yx, dtype=float).reshape(-1, 2)
    b = np.asarray(true_yx, dtype=float).reshape(-1, 2)
    if a.size == 0 or b.size == 0:
        return []
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    ii, jj = np.nonzero(d <= match_px)
    order = np.argsort(d[ii, jj], kind="stable")
    used_a, used_b, out = set(), set(), []
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j))
    return out


def _median(values) -> float:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return float(np.median(v)) if v.size else float("nan")


def score_blinking(result: dict, truth: dict, *, match_px: float = 2.5, min_events: int = 5) -> dict:
    """Recall, precision, class accuracy, dwell-time, alpha and correlation errors of one analysis.

    Parameters
    ----------
    result : dict
        The JSON of ``python -m analysis blinking`` (:meth:`BlinkingResult.to_json`).
    truth : dict
        The truth JSON of a simulated movie (``particles[]`` with ``centroid_px``, ``class``,
        ``subclass``, ``on_dwell_s``, ``off_dwell_s``, ``fraction_on``, ``mean_on_s``,
        ``mean_off_s``, ``correlation_mean_true``, ``detectable``; ``movie.bin_time_s``).
    min_events : int
        Mean ON/OFF errors are taken over crystals with at least this many true events.

    Returns
    -------
    dict
        ``recall``, ``precision``, ``class_accuracy`` (and ``subclass_accuracy`` over true qTSB),
        ``mean_on_rel_err``/``mean_off_rel_err`` (medians), ``fraction_on_abs_err``,
        ``correlation_abs_err`` (medians), ``alpha_on``/``alpha_off`` (analysis),
        ``alpha_on_true``/``alpha_off_true`` (the same discrete ML fit of the true complete dwells of
        the matched crystals the analysis pooled), their differences, and the counts.
    """
    parts = result["particles"]
    tparts = truth["particles"]
    det = np.array([p["centroid_px"] for p in parts], dtype=float).reshape(-1, 2)
    tru = np.array([p["centroid_px"] for p in tparts], dtype=float).reshape(-1, 2)
    pairs = match_particles(det, tru, match_px=match_px)
    detectable = {j for j, p in enumerate(tparts) if p.get("detectable", True)}
    matched_detectable = sum(1 for _, j in pairs if j in detectable)
    recall = matched_detectable / len(detectable) if detectable else float("nan")
    precision = len(pairs) / len(parts) if parts else float("nan")

    cls_ok, sub_ok, sub_n = [], [], 0
    on_err, off_err, fon_err, corr_err = [], [], [], []
    pooled_on, pooled_off = [], []
    pooled_label = str(result.get("options", {}).get("population_classes", "all"))
    pooled_set = None if pooled_label.startswith("all") else set(pooled_label.split("+"))
    for i, j in pairs:
        p, t = parts[i], tparts[j]
        cls_ok.append(p["class"] == t["class"])
        if t["class"] == "qTSB":
            sub_n += 1
            sub_ok.append(p["class"] == "qTSB" and p.get("subclass") == t.get("subclass"))
        if len(t["on_dwell_s"]) >= min_events and p.get("mean_on_s"):
            on_err.append(abs(p["mean_on_s"] - t["mean_on_s"]) / t["mean_on_s"])
        if len(t["off_dwell_s"]) >= min_events and p.get("mean_off_s"):
            off_err.append(abs(p["mean_off_s"] - t["mean_off_s"]) / t["mean_off_s"])
        fon_err.append(abs(p["fraction_on"] - t["fraction_on"]))
        if t.get("correlation_mean_true") is not None and p.get("correlation_mean") is not None:
            corr_err.append(abs(p["correlation_mean"] - t["correlation_mean_true"]))
        pooled = (
            p["in_population"]
            if p.get("in_population") is not None
            else (pooled_set is None or p["class"] in pooled_set)
        )
        if pooled:
            pooled_on.extend(t["on_dwell_s"])
            pooled_off.extend(t["off_dwell_s"])

    movie = result.get("movie", {})
    bin_time = float(movie.get("bin_time_s") or truth["movie"]["bin_time_s"])
    t_max = int(movie.get("frames") or truth["movie"]["frames"]) * bin_time
    kw = dict(t_min_s=bin_time, bin_time_s=bin_time, t_max_s=t_max)
    true_on = fit_truncated_power_law(np.asarray(pooled_on, dtype=float), **kw)
    true_off = fit_truncated_power_law(np.asarray(pooled_off, dtype=float), **kw)
    pop = result.get("population", {})
    a_on = pop.get("on", {}).get("alpha")
    a_off = pop.get("off", {}).get("alpha")

    def diff(a, b):
        return float(a - b) if a is not None and np.isfinite(a) and np.isfinite(b) else float("nan")

    return {
        "n_detected": len(parts),
        "n_true": len(tparts),
        "n_detectable": len(detectable),
        "n_matched": len(pairs),
        "recall": recall,
        "precision": precision,
        "class_accuracy": float(np.mean(cls_ok)) if cls_ok else float("nan"),
        "subclass_accuracy": float(np.mean(sub_ok)) if sub_n else float("nan"),
        "mean_on_rel_err": _median(on_err),
        "mean_off_rel_err": _median(off_err),
        "fraction_on_abs_err": _median(fon_err),
        "correlation_abs_err": _median(corr_err),
        "alpha_on": a_on,
        "alpha_off": a_off,
        "alpha_on_true": true_on.alpha,
        "alpha_off_true": true_off.alpha,
        "alpha_on_diff": diff(a_on, true_on.alpha),
        "alpha_off_diff": diff(a_off, true_off.alpha),
        "pooled_events_true": [true_on.n_events, true_off.n_events],
        "matches": [(int(i) + 1, int(tparts[j].get("id", j + 1))) for i, j in pairs],
    }
