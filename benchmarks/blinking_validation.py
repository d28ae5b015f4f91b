"""Score the blinking analysis on movies nobody here generated, against their ground truth.

    .venv/bin/python benchmarks/blinking_validation.py                 # the four shared movies
    .venv/bin/python benchmarks/blinking_validation.py --json out.json # also write every score
    .venv/bin/python benchmarks/blinking_validation.py --realistic     # + 4 longer movies of analysis.simulate
    .venv/bin/python benchmarks/blinking_validation.py --missed-events 0     # mean times as decoded (no correction)

Reads ``../shared/validation/blinking/*.tif`` and ``*.truth.json`` beside the checkout (never copied
into the project), runs :func:`analysis.blinking.analyze_blinking_movie` on each on one LocalCluster,
scores the result with :func:`analysis.blinking.score.score_blinking` (the README's rules), and prints
the table of issue 11 side by side with the figures the issue measured before this work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VALIDATION = ROOT.parent / "shared" / "validation" / "blinking"

#: What issue 11 measured on these four movies before this work (recall, precision, class accuracy,
#: |d alpha_on| / |d alpha_off|, |d mean correlation|).
BEFORE = {
    "v1-untreated": (0.48, 1.00, 0.67, 0.22, 0.20, 0.036),
    "v2-3pct": (0.68, 1.00, 0.76, 0.20, 0.64, 0.063),
    "v3-9pct-lowsnr": (0.16, 1.00, 0.75, 0.32, 0.18, 0.019),
    "v4-17pct": (0.80, 1.00, 0.80, 0.09, 0.16, 0.057),
}
TARGETS = "recall >= 0.95 (0.90 low SNR), precision >= 0.90, class >= 0.85, ON/OFF within 10 %, |d alpha| <= 0.05, |d r| <= 0.03"


def score_movie(path: Path, client, **options) -> tuple[dict, float]:
    from analysis.blinking import analyze_blinking_movie
    from analysis.blinking.score import score_blinking
    from analysis.cli import jsonable

    truth = json.loads(path.with_name(path.name.replace(".tif", ".truth.json")).read_text())
    t0 = time.perf_counter()
    result = analyze_blinking_movie(path, client=client, **options)
    elapsed = time.perf_counter() - t0
    return score_blinking(jsonable(result.to_json()), truth), elapsed


#: Longer movies of the project's realistic simulator (generated once into benchmarks/data/realistic,
#: ~1 min each): 2000 frames of 256 x 256 with 100 crystals per paper preset; the 9 % one at half the
#: signal, the 17 % one with a 2.5 px stage drift.
REALISTIC = [
    ("sim-0pct", 0, 11, 2000, 100, {}),
    ("sim-3pct", 3, 12, 2000, 100, {}),
    ("sim-9pct-halfsignal", 9, 13, 1500, 80, {"signal_photons": 200.0}),
    ("sim-17pct-drift", 17, 14, 2000, 100, {"drift_px": 2.5}),
]


def realistic_movies(folder: Path) -> list[Path]:
    from analysis import simulate

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, preset, seed, frames, n, kw in REALISTIC:
        path = folder / f"{name}.tif"
        if not path.exists() or not path.with_name(f"{name}.truth.json").exists():
            simulate.write_realistic_movie_tiff(
                path,
                frames,
                (256, 256),
                n,
                preset,
                seed,
                truth_path=path.with_name(f"{name}.truth.json"),
                **kw,
            )
        out.append(path)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=str(VALIDATION))
    ap.add_argument("--json", help="write every score here")
    ap.add_argument("--realistic", action="store_true", help="also 4 longer movies of analysis.simulate")
    ap.add_argument(
        "--missed-events",
        type=float,
        metavar="SNR",
        help="correct mean times below this SNR (missed_events_max_snr; default the analysis' 3.09, 0: off)",
    )
    args = ap.parse_args(argv)
    movies = sorted(Path(args.folder).glob("*.tif"))
    if args.realistic:
        movies += realistic_movies(ROOT / "benchmarks" / "data" / "realistic")
    if not movies:
        print(f"no validation movies in {args.folder}", file=sys.stderr)
        return 2
    from distributed import Client

    from analysis.chunked import local_cluster

    scores = {}
    with local_cluster(n_workers=2) as cluster, Client(cluster) as client:
        for m in movies:
            options = (
                {} if args.missed_events is None else {"missed_events_max_snr": args.missed_events or None}
            )
            scores[m.stem], secs = score_movie(m, client, **options)
            scores[m.stem]["seconds"] = secs
    head = (
        f"{'movie':16} {'recall':>13} {'precision':>13} {'class acc':>13} {'d alpha_on':>13} "
        f"{'d alpha_off':>13} {'d corr':>13} {'ON err':>7} {'OFF err':>7} {'sub acc':>7} {'s':>5}"
    )
    print("each cell: before -> now (before = issue 11's measurement)")
    print(head)
    for name, s in scores.items():
        b = BEFORE.get(name, (float("nan"),) * 6)
        now = (
            s["recall"],
            s["precision"],
            s["class_accuracy"],
            abs(s["alpha_on_diff"]),
            abs(s["alpha_off_diff"]),
            s["correlation_abs_err"],
        )
        cells = " ".join(
            f"{bb:5.2f} -> {nn:4.2f}" if "corr" not in k else f"{bb:5.3f} -> {nn:5.3f}"
            for k, bb, nn in zip(("r", "p", "c", "a", "o", "corr"), b, now, strict=True)
        )
        print(
            f"{name:16} {cells} {s['mean_on_rel_err']:7.3f} {s['mean_off_rel_err']:7.3f} "
            f"{s['subclass_accuracy']:7.2f} {s['seconds']:5.1f}"
        )
    print("targets:", TARGETS)
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
