"""``python -m analysis blinking``: the JSON contract, maps, and one-line refusals of bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from analysis import simulate
from analysis.chunked import dask_client
from analysis.cli import main

ROOT = Path(__file__).resolve().parents[2]

PARTICLE_KEYS = {
    "id", "centroid_px", "area_px", "edge_um", "class", "subclass", "threshold", "on_dwell_s", "off_dwell_s",
    "fraction_on", "mean_on_s", "mean_off_s", "alpha_on", "mu_on_per_s", "alpha_off", "mu_off_per_s",
    "correlation_mean",
}  # fmt: skip
POP_KEYS = {"alpha", "alpha_err", "mu_per_s", "n_events"}


@pytest.fixture(scope="module")
def scheduler():
    # One worker is enough to check the contract; the chunked tests use two.
    with dask_client(n_workers=1) as c:
        yield c.scheduler.address


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    mv = simulate.simulate_movie(
        600,
        (48, 48),
        n_particles=4,
        kinds=("qTSB", "BB"),
        edge_px=(3,),
        spacing_px=8,
        seed=4,
        alpha_on=1.0,
        alpha_off=1.0,
        mu_on_per_s=0.3,
        mu_off_per_s=0.3,
    )
    path = tmp_path_factory.mktemp("cli") / "movie.tif"
    simulate.write_movie_tiff(path, mv)
    return path


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_contract_json_and_maps(tmp_path, movie, scheduler, capsys):
    out, maps = tmp_path / "r.json", tmp_path / "maps"
    code, err = _run(
        ["blinking", movie, "--out", out, "--scheduler", scheduler, "--maps", maps, "--bin-time", "100ms",
         "--pixel-size", "160nm", "--assembly-distance", "2um"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["movie"] == {"frames": 600, "height": 48, "width": 48, "bin_time_s": 0.1, "pixel_size_um": 0.16}
    assert len(r["particles"]) == 4
    for p in r["particles"]:
        assert PARTICLE_KEYS <= set(p)
        assert p["class"] in {"BB", "BBB", "MSB", "PEB", "qTSB"}
        assert p["subclass"] in {"mostly-on", "intermediate", "mostly-off", None}
        assert (p["subclass"] is None) == (p["class"] != "qTSB")
        assert len(p["centroid_px"]) == 2 and 0 < p["correlation_mean"] <= 1
        assert p["edge_um"] == pytest.approx(0.48, abs=0.2)
        assert all(abs(d / 0.1 - round(d / 0.1)) < 1e-9 for d in p["on_dwell_s"])
    assert {p["id"] for p in r["particles"]} == {1, 2, 3, 4}
    for state in ("on", "off"):
        assert POP_KEYS <= set(r["population"][state])
        assert 0.5 < r["population"][state]["alpha"] < 1.5
    # Crystals 8 px (1.28 um) apart are assemblies at 2 um: cross maps for each reference.
    assert r["assemblies"]
    names = set(r["maps"]["files"])
    assert {"correlation_self.npy", "correlation_self.png", "particle_labels.npy"} <= names
    self_map = np.load(maps / "correlation_self.npy")
    labels = np.load(maps / "particle_labels.npy")
    assert self_map.shape == (48, 48) and np.isfinite(self_map[labels > 0]).all()
    assert np.isnan(self_map[labels == 0]).all()
    assert (maps / "correlation_self.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(n.startswith("correlation_assembly_ref") for n in names)


@pytest.mark.slow
def test_default_subprocess_threads_and_local_cluster_agree(tmp_path, movie):
    """The real entry point in a fresh interpreter: by default threads in one process, with
    ``--processes`` its own LocalCluster; the same particles and statistics either way."""
    results = []
    for mode in (["--workers", "2"], ["--processes", "--workers", "1"]):
        out = tmp_path / f"r{len(results)}.json"
        proc = subprocess.run(
            [sys.executable, "-m", "analysis", "blinking", str(movie), "--out", str(out), *mode],
            cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "frame" in proc.stderr  # the tqdm progress bar went to stderr
        results.append(json.loads(out.read_text()))
    threads, cluster = results
    assert len(threads["particles"]) == len(cluster["particles"]) == 4
    for a, b in zip(threads["particles"], cluster["particles"], strict=True):
        assert a["centroid_px"] == b["centroid_px"] and a["on_dwell_s"] == b["on_dwell_s"]
        assert a["correlation_mean"] == pytest.approx(b["correlation_mean"], abs=1e-9)


def _bad_inputs(tmp_path, movie):
    good = movie.read_bytes()
    cases = {}

    def write(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        return p

    info_offset = tifffile.TiffFile(movie).series[0].dataoffset
    cases["truncated"] = (write("trunc.tif", good[: info_offset + 48 * 48 * 2 * 100]), "truncated")
    cases["corrupt"] = (write("corrupt.tif", b"II*\x00" + b"\xff" * 400), "TIFF")
    cases["empty"] = (write("empty.tif", b""), "empty")
    tifffile.imwrite(tmp_path / "img.tif", np.zeros((48, 48), np.uint16))
    cases["2-D image"] = (tmp_path / "img.tif", "2-D")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((5, 16, 16, 3), np.uint8), photometric="rgb")
    cases["RGB"] = (tmp_path / "rgb.tif", "RGB")
    tifffile.imwrite(tmp_path / "const.tif", np.full((20, 32, 32), 300, np.uint16))
    cases["constant"] = (tmp_path / "const.tif", "constant")
    nan = np.random.default_rng(0).normal(100, 5, (20, 32, 32)).astype(np.float32)
    nan[3, 5, 5] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", nan)
    cases["NaN"] = (tmp_path / "nan.tif", "NaN")
    noise = np.random.default_rng(1).poisson(100, (20, 32, 32)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "noise.tif", noise)
    cases["zero particles"] = (tmp_path / "noise.tif", "no particles")
    cases["missing"] = (tmp_path / "missing.tif", "No such file")
    return cases


@pytest.mark.parametrize(
    "case",
    ["truncated", "corrupt", "empty", "2-D image", "RGB", "constant", "NaN", "zero particles", "missing"],
)
def test_bad_movies_exit_2_with_one_line_and_no_output(tmp_path, movie, case, capsys):
    path, message = _bad_inputs(tmp_path, movie)[case]
    out = tmp_path / "out" / "r.json"
    code, err = _run(["blinking", path, "--out", out, "--no-progress", "--workers", "1"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temporary file left either


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bin-time", "-0.1"], "positive time"),
        (["--bin-time", "3m"], "--bin-time"),  # metres: wrong dimension
        (["--pixel-size", "160"], "no unit"),
        (["--pixel-size", "0nm"], "positive length"),
        (["--workers", "0"], "--workers"),
        (["--threshold-fraction", "1.2"], "--threshold-fraction"),
        (["--chunk-frames", "0"], "--chunk-frames"),
        (["--missed-events-snr", "-1"], "--missed-events-snr"),
        (["--missed-events-snr", "nan"], "--missed-events-snr"),
    ],
)
def test_nonsense_parameters_exit_2(tmp_path, movie, args, message, capsys):
    out = tmp_path / "r.json"
    code, err = _run(["blinking", movie, "--out", out, "--no-progress", *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_missed_events_correction_is_on_by_default_and_0_turns_it_off(tmp_path, movie, capsys):
    on, off = tmp_path / "on.json", tmp_path / "off.json"
    assert _run(["blinking", movie, "--out", on, "--no-progress"], capsys)[0] == 0
    assert (
        _run(["blinking", movie, "--out", off, "--no-progress", "--missed-events-snr", "0"], capsys)[0] == 0
    )
    a, b = json.loads(on.read_text()), json.loads(off.read_text())
    assert a["options"]["missed_events_max_snr"] == 3.09 and b["options"]["missed_events_max_snr"] is None
    for p, q in zip(a["particles"], b["particles"], strict=True):
        assert p["on_dwell_s"] == q["on_dwell_s"]  # the decoded dwells never change
        assert q["missed_events_ratio_on"] is None and q["mean_on_s"] == q["mean_on_observed_s"]
        if p["snr"] >= 3.09:  # bright crystals are never corrected
            assert p["missed_events_ratio_on"] is None and p["mean_on_s"] == q["mean_on_s"]
