"""Pipeline robustness: a dask worker lost mid-pass, and which crystals the population fits pool."""

import os
import signal
import time

import numpy as np
import pytest
from distributed import Client, LocalCluster

from analysis import simulate
from analysis.blinking.pipeline import analyze_blinking_movie


@pytest.mark.slow
def test_killing_a_dask_worker_mid_pass_gives_the_same_result(tmp_path):
    path = tmp_path / "m.tif"
    mv = simulate.simulate_movie(
        3000, (48, 48), n_particles=4, kinds=("qTSB",), edge_px=(3,), spacing_px=10, seed=3
    )
    simulate.write_movie_tiff(path, mv)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1", processes=True
        ) as cluster,
        Client(cluster) as client,
    ):
        reference = analyze_blinking_movie(path, client=client, chunk_frames=50)
        done = []
        killed = []

        def progress(n):
            done.append(n)
            if len(done) == 5 and not killed:  # a fifth of the way: kill one worker process outright
                pid = next(iter(client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        result = analyze_blinking_movie(path, client=client, chunk_frames=50, progress=progress)
        assert killed, "the worker was not killed"
        np.testing.assert_array_equal(result.traces, reference.traces)
        np.testing.assert_allclose(result.correlation_mean, reference.correlation_mean, rtol=0, atol=1e-12)
        assert result.population_on.alpha == reference.population_on.alpha
        # the nanny restarted the worker
        deadline = time.monotonic() + 30
        while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.slow
def test_population_fits_pool_resolvable_crystals_and_classes_on_request(tmp_path):
    """By default every class is pooled (as the truth of the validation movies is), restricted to the
    crystals whose one-frame dwells are resolvable (SNR >= 6); ``population_classes`` restricts to
    classes (the paper's "clear two-state" crystals), ``population_min_snr=None`` pools everyone; the
    choice is recorded in the options and per particle."""
    path = tmp_path / "mixed.tif"
    mv = simulate.simulate_movie(
        2400,
        (64, 64),
        n_particles=8,
        kinds=("qTSB", "BB", "qTSB", "PEB"),
        edge_px=(3,),
        spacing_px=14,
        seed=5,
        alpha_on=1.2,
        alpha_off=0.9,
        mu_on_per_s=0.05,
        mu_off_per_s=0.05,
    )
    simulate.write_movie_tiff(path, mv)
    default = analyze_blinking_movie(path)
    two_state = analyze_blinking_movie(path, population_classes=("qTSB",))
    everyone = analyze_blinking_movie(path, population_min_snr=None)
    assert default.options["population_classes"] == "all"
    assert default.options["population_min_snr"] == ">= 6"
    assert list(default.in_population) == [a.snr >= 6 for a in default.analyses]
    n_qtsb = sum(a.trace_class.label == "qTSB" and a.snr >= 6 for a in two_state.analyses)
    assert two_state.options["population_classes"] == "qTSB"
    assert two_state.options["population_particles"] == n_qtsb < len(two_state.analyses)
    assert everyone.options["population_particles"] == len(everyone.analyses)
    assert (
        two_state.population_on.n_events < default.population_on.n_events <= everyone.population_on.n_events
    )
    out = default.to_json()
    assert [p["in_population"] for p in out["particles"]] == list(map(bool, default.in_population))
