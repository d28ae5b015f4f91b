"""Missed-events correction of mean ON/OFF times (analysis.blinking.missed) against known truth.

Traces with known dwells come from :mod:`analysis.simulate`'s realistic model (continuous power-law
dwells integrated over frames, so one-frame dwells are partial frames), at a signal-to-noise ratio
where the state assignment misses short dwells; a movie of the realistic simulator at half the signal
checks the whole pipeline's option.
"""

import numpy as np
import pytest

from analysis import simulate
from analysis.blinking.missed import TruncatedPowerLawSampler, missed_events_ratio
from analysis.blinking.pipeline import trace_states

#: (alpha, mu per frame) of the test laws: mean ON 30 frames, mean OFF 40 frames.
LAW_ON = (1.2, simulate.truncated_power_law_mu(1.2, 30.0, t_min_s=1.0))
LAW_OFF = (1.0, simulate.truncated_power_law_mu(1.0, 40.0, t_min_s=1.0))


def test_sampler_gives_the_law_asked_for():
    rng = np.random.default_rng(0)
    law = TruncatedPowerLawSampler(LAW_ON[0], LAW_ON[1], 20_000)
    t = law(200_000, rng)
    assert t.min() >= 1.0 and t.max() <= 20_000
    assert t.mean() == pytest.approx(30.0, rel=0.03)
    # The power-law head: P(1 <= t < 2) / P(2 <= t < 4) of t^-1.2 e^-mu t (mu small) is about
    # (1 - 2^-0.2) / (2^-0.2 - 4^-0.2) = 1.15.
    head = np.mean(t < 2) / np.mean((t >= 2) & (t < 4))
    assert head == pytest.approx(1.15, rel=0.08)


def _low_snr_traces(n_traces: int, frames: int, snr: float, seed: int):
    """Two-state traces of the realistic model: continuous dwells (alpha 1.2 ON, 1.0 OFF, mean 30 and
    40 frames), frame-integrated, OFF level 5 % of ON, Gaussian noise (ON noisier, as on an EM-CCD).
    Returns the traces and the true mean complete ON and OFF dwell (frames) of each."""
    rng = np.random.default_rng(seed)
    mu_on, mu_off = LAW_ON[1], LAW_OFF[1]
    level_on, level_off, sigma_on = 1000.0, 50.0, 950.0 / snr
    traces, true_on, true_off = [], [], []
    for _ in range(n_traces):
        dur, st = simulate._two_state_segments(
            frames + 1.0, 1.2, mu_on, 1.0, mu_off, bool(rng.integers(2)), rng, 1.0, 1e6
        )
        cover = simulate._per_frame_mean(dur, st.astype(float), 0.0, frames, 1.0)
        sigma = np.sqrt((0.7 * sigma_on) ** 2 + cover * (sigma_on**2 - (0.7 * sigma_on) ** 2))
        traces.append(level_off + (level_on - level_off) * cover + sigma * rng.standard_normal(frames))
        truth = cover >= 0.5
        change = np.flatnonzero(truth[1:] != truth[:-1]) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [frames]]))[1:-1]
        on = truth[starts][1:-1]
        true_on.append(lengths[on].mean())
        true_off.append(lengths[~on].mean())
    return traces, np.array(true_on), np.array(true_off)


def test_correction_removes_the_bias_of_missed_short_dwells_at_snr_2():
    traces, true_on, true_off = _low_snr_traces(12, 3000, snr=2.0, seed=5)

    def decode(x):
        return trace_states(x, 0.1)[1]

    obs_on, obs_off, cor_on, cor_off = ([] for _ in range(4))
    for x in traces:
        s = decode(x)
        change = np.flatnonzero(s[1:] != s[:-1]) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [s.size]]))[1:-1]
        on = s[starts][1:-1]
        m_on, m_off = lengths[on].mean(), lengths[~on].mean()
        m = missed_events_ratio(x, s, decode, law_on=LAW_ON, law_off=LAW_OFF)
        assert np.isfinite(m.ratio_on) and np.isfinite(m.ratio_off)
        obs_on.append(m_on)
        obs_off.append(m_off)
        cor_on.append(m_on / m.ratio_on)
        cor_off.append(m_off / m.ratio_off)
    obs_on, obs_off, cor_on, cor_off = (np.array(v) for v in (obs_on, obs_off, cor_on, cor_off))
    # The decoded means are long (short dwells missed, neighbours merged) ...
    assert np.median(obs_on / true_on) > 1.12 and np.median(obs_off / true_off) > 1.12
    # ... and the correction brings the typical crystal back within 7 % of the truth.
    assert np.median(cor_on / true_on) == pytest.approx(1.0, abs=0.07)
    assert np.median(cor_off / true_off) == pytest.approx(1.0, abs=0.07)


def test_correction_is_reproducible_and_leaves_clear_traces_alone():
    traces, _, _ = _low_snr_traces(1, 3000, snr=2.0, seed=9)
    x = traces[0]

    def decode(y):
        return trace_states(y, 0.1)[1]

    s = decode(x)
    a = missed_events_ratio(x, s, decode, law_on=LAW_ON, law_off=LAW_OFF)
    b = missed_events_ratio(x, s, decode, law_on=LAW_ON, law_off=LAW_OFF)
    assert a == b  # seeded by the trace itself
    clear, _, _ = _low_snr_traces(1, 3000, snr=12.0, seed=9)
    c = missed_events_ratio(clear[0], decode(clear[0]), decode, law_on=LAW_ON, law_off=LAW_OFF)
    assert c.ratio_on == pytest.approx(1.0, abs=0.03) and c.ratio_off == pytest.approx(1.0, abs=0.03)
    # Nothing to correct without dwells of both states.
    none = missed_events_ratio(x, np.zeros(x.size, bool), decode, law_on=LAW_ON, law_off=LAW_OFF)
    assert np.isnan(none.ratio_on) and np.isnan(none.ratio_off)


@pytest.mark.slow
def test_pipeline_option_on_a_half_signal_movie(tmp_path):
    from analysis.blinking import analyze_blinking_movie
    from analysis.blinking.score import score_blinking
    from analysis.cli import jsonable

    movie, truth = simulate.simulate_realistic_movie(800, (128, 128), 25, 9, 103, signal_photons=200.0)
    path = tmp_path / "half.tif"
    simulate.write_movie_tiff(path, movie)
    plain = jsonable(analyze_blinking_movie(path, missed_events_max_snr=None).to_json())
    fixed = jsonable(analyze_blinking_movie(path).to_json())  # the default: corrected below SNR 3.09
    assert fixed["options"]["missed_events_max_snr"] == 3.09
    corrected = [p for p in fixed["particles"] if p["missed_events_ratio_on"] is not None]
    assert corrected and all(p["snr"] < 3.09 for p in corrected)
    for p, q in zip(plain["particles"], fixed["particles"], strict=True):
        # The dwell lists and their plain means do not change; only the corrected means do.
        assert p["on_dwell_s"] == q["on_dwell_s"] and q["mean_on_observed_s"] == p["mean_on_s"]
        if q["missed_events_ratio_on"] is not None:
            assert q["mean_on_s"] == pytest.approx(p["mean_on_s"] / q["missed_events_ratio_on"])
    # Signed error of the corrected crystals against the truth: the bias shrinks.
    from analysis.blinking.score import match_particles

    tp = truth["particles"]
    pairs = match_particles(
        np.array([p["centroid_px"] for p in fixed["particles"]]), np.array([t["centroid_px"] for t in tp])
    )
    before, after = [], []
    for i, j in pairs:
        p, q, t = plain["particles"][i], fixed["particles"][i], tp[j]
        if q["missed_events_ratio_on"] is None or len(t["on_dwell_s"]) < 5 or not p["mean_on_s"]:
            continue
        before.append(p["mean_on_s"] / t["mean_on_s"] - 1)
        after.append(q["mean_on_s"] / t["mean_on_s"] - 1)
    assert len(before) >= 5
    assert abs(np.median(after)) < abs(np.median(before))
    # The other scores do not move.
    s0, s1 = score_blinking(plain, truth), score_blinking(fixed, truth)
    for k in (
        "recall",
        "precision",
        "class_accuracy",
        "alpha_on_diff",
        "alpha_off_diff",
        "correlation_abs_err",
    ):
        assert s0[k] == s1[k]
