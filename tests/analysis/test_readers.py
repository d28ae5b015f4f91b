"""Readers on real-format sample files (fixtures/instruments, see its README.txt) and on broken files.

The .ptu and .sdt samples are written by the format libraries' own writers (ptufile, sdtfile); the .phu
sample is assembled tag by tag (ptufile has no PHU writer) and read back by ptufile.PhuFile. All samples
are regenerated here from the same seeds and compared, so the committed files cannot drift from the code.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import AnalysisInputError
from analysis.readers import read_decay, read_electrical, read_spectrum, read_table, read_xrd

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "fixtures" / "instruments"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen", ROOT / "fixtures" / "generate_demo_instrument_files.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("instruments")
    _generator().write_instruments(out)
    return out


@pytest.mark.parametrize("name", ["decay.csv", "decay.ptu", "decay.sdt", "decay.phu"])
def test_decay_samples_hold_the_same_histogram(name, fresh):
    from analysis.instruments_sim import simulate_tcspc_decay

    truth = simulate_tcspc_decay(
        [1.0, 13.8, 106.0],
        [0.60, 0.33, 0.07],
        photons=4000,
        bin_width_ns=1.0,
        n_bins=400,
        irf_fwhm_ns=0.8,
        background_per_bin=0.2,
        irf_photons=2000,
        seed=7,
    )
    hist = read_decay(SAMPLES / name)
    np.testing.assert_array_equal(hist.counts[:400], truth.counts)
    assert hist.counts[400:].sum() == 0  # a PTU period may hold more (empty) bins than were written
    assert hist.bin_width_ns == pytest.approx(1.0, rel=1e-6)  # .sdt stores the TAC range as float32
    np.testing.assert_allclose(hist.time_ns[:3], [0.0, 1.0, 2.0], atol=1e-5)
    assert hist.rep_rate_hz == (None if name.endswith(".sdt") else pytest.approx(1e6))
    np.testing.assert_array_equal(read_decay(fresh / name).counts, hist.counts)


def test_phu_second_curve_is_the_irf():
    irf = read_decay(SAMPLES / "decay.phu", curve=1)
    assert irf.counts.argmax() == 10  # IRF centred at 10 ns, 1 ns bins
    with pytest.raises(AnalysisInputError, match="curve 5"):
        read_decay(SAMPLES / "decay.phu", curve=5)


def test_decay_csv_time_unit_from_header(tmp_path):
    path = tmp_path / "ps.csv"
    path.write_text(
        "Sync rate: 2e7\ntime (ps),counts\n" + "\n".join(f"{i * 50},{100 - i}" for i in range(50))
    )
    hist = read_decay(path)
    assert hist.bin_width_ns == pytest.approx(0.05)
    assert hist.rep_rate_hz == pytest.approx(2e7)


def test_keithley_samples(fresh):
    pr = read_electrical(SAMPLES / "keithley_photoresponse.csv")
    assert pr.is_time_series and pr.light is not None and set(np.unique(pr.light)) == {0.0, 1.0}
    raw = read_electrical(SAMPLES / "keithley_raw_buffer.csv")  # V, I, R, t, status without header
    np.testing.assert_allclose(raw.current_A, pr.current_A, rtol=1e-5)
    np.testing.assert_allclose(raw.time_s, pr.time_s, rtol=1e-5)
    assert raw.voltage_V is None  # constant bias: a photoresponse series
    iv = read_electrical(SAMPLES / "iv.csv")
    assert iv.is_iv and not iv.is_time_series
    assert iv.current_light_A[-1] == pytest.approx(2e-8 + 1e-11, rel=1e-5)
    np.testing.assert_allclose(read_electrical(fresh / "iv.csv").voltage_V, iv.voltage_V)


def test_keithley_units_in_column_names(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("Time (ms),Current (nA)\n" + "\n".join(f"{i * 50},{i % 7}" for i in range(20)))
    data = read_electrical(path)
    assert data.time_s[1] == pytest.approx(0.05)
    assert data.current_A[1] == pytest.approx(1e-9)
    path.write_text("Time (furlongs),Current (A)\n" + "\n".join(f"{i},{i}" for i in range(20)))
    with pytest.raises(AnalysisInputError, match="furlongs"):
        read_electrical(path)


def test_spectrum_samples():
    pl = read_spectrum(SAMPLES / "pl_fls980.csv")
    assert pl.wavelength_nm[0] == 700.0 and pl.wavelength_nm[-1] == 860.0
    assert pl.y_label == "Counts" and pl.metadata["type"] == "Emission Scan"
    ab = read_spectrum(SAMPLES / "abs_lambda950.csv")
    assert ab.y_label == "A" and ab.wavelength_nm.size == 251


def test_trailing_separators_and_fls_style_header(tmp_path):
    path = tmp_path / "fls.csv"
    lines = ["Labels,PL1,", "Type,Emission Scan,", "Xaxis,Wavelength,", "Yaxis,Counts,", ""]
    lines += [f"{700 + i}.00,{i * 1.5:.2f}," for i in range(20)]
    path.write_text("\n".join(lines) + "\n")
    s = read_spectrum(path)
    assert s.wavelength_nm.size == 20 and s.intensity[2] == 3.0 and s.metadata["yaxis"] == "Counts"


def test_spectrum_in_ev_is_converted_and_sorted(tmp_path):
    path = tmp_path / "ev.txt"
    energies = np.linspace(1.4, 2.0, 30)
    path.write_text("Energy (eV)\tPL\n" + "\n".join(f"{e:.4f}\t{i}" for i, e in enumerate(energies)))
    s = read_spectrum(path)
    assert np.all(np.diff(s.wavelength_nm) > 0)
    assert s.wavelength_nm[0] == pytest.approx(1239.841984 / 2.0, rel=1e-4)
    assert s.intensity[0] == 29


def test_utf16_export(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_text('"nm","A"\n' + "\n".join(f"{700 + i},{i / 10}" for i in range(20)), encoding="utf-16")
    assert read_spectrum(path).wavelength_nm.size == 20


def test_xrd_samples_agree(fresh):
    a = read_xrd(SAMPLES / "xrd.xrdml")
    b = read_xrd(SAMPLES / "xrd.xy")
    np.testing.assert_allclose(a.two_theta_deg, b.two_theta_deg, atol=1e-3)
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert a.wavelength_angstrom == pytest.approx(1.540598)
    assert a.counting_time_s == pytest.approx(1.0)
    assert "SYNTHETIC" in a.metadata["comment"]
    np.testing.assert_array_equal(read_xrd(fresh / "xrd.xrdml").intensity, a.intensity)


def test_xrdml_list_positions_and_counts_element(tmp_path):
    path = tmp_path / "v2.xrdml"
    tt = " ".join(f"{10 + 0.1 * i:.1f}" for i in range(12))
    path.write_text(
        '<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/2.1"><xrdMeasurement><scan><dataPoints>'
        f'<positions axis="2Theta" unit="deg"><listPositions>{tt}</listPositions></positions>'
        f'<counts unit="counts">{" ".join(["5"] * 12)}</counts></dataPoints></scan></xrdMeasurement></xrdMeasurements>'
    )
    pattern = read_xrd(path)
    assert pattern.two_theta_deg[-1] == pytest.approx(11.1) and pattern.wavelength_angstrom is None


def test_xrdml_raw_counts_get_attenuation_factors_and_fixed_2theta_is_refused(tmp_path):
    def doc(points, extra=""):
        return (
            '<xrdMeasurements version="1.0"><xrdMeasurement><scan scanAxis="2Theta-Omega"><dataPoints>'
            f"{points}{extra}</dataPoints></scan></xrdMeasurement></xrdMeasurements>"
        )

    positions = '<positions axis="2Theta" unit="deg"><startPosition>10</startPosition><endPosition>11.1</endPosition></positions>'
    path = tmp_path / "att.xrdml"
    factors = " ".join(["1"] * 11 + ["100"])
    path.write_text(
        doc(
            positions,
            f"<beamAttenuationFactors>{factors}</beamAttenuationFactors><counts>{' '.join(['3'] * 12)}</counts>",
        )
    )
    assert read_xrd(path).intensity[-1] == 300 and read_xrd(path).intensity[0] == 3
    rocking = '<positions axis="2Theta" unit="deg"><commonPosition>14.1</commonPosition></positions>'
    path.write_text(doc(rocking, f"<counts>{' '.join(['3'] * 12)}</counts>"))
    with pytest.raises(AnalysisInputError, match="not a 2theta scan"):
        read_xrd(path)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<xrdMeasurements>&lol2;</xrdMeasurements>"""
EXTERNAL = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xrdMeasurements>&e;</xrdMeasurements>"""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL, "DOCTYPE"),
        ("<xrdMeasurements><unclosed></xrdMeasurements>", "well-formed"),
        ("<svg></svg>", "root element"),
        ("<xrdMeasurements><xrdMeasurement/></xrdMeasurements>", "dataPoints"),
    ],
)
def test_bad_xrdml_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.xrdml"
    path.write_text(content)
    with pytest.raises(AnalysisInputError, match=message):
        read_xrd(path)


def test_xrdml_with_mismatched_list_positions(tmp_path):
    path = tmp_path / "short.xrdml"
    path.write_text(
        '<xrdMeasurements><xrdMeasurement><scan><dataPoints><positions axis="2Theta" unit="deg">'
        "<listPositions>10 11 12</listPositions></positions>"
        f'<intensities unit="counts">{" ".join(["5"] * 12)}</intensities></dataPoints></scan></xrdMeasurement>'
        "</xrdMeasurements>"
    )
    with pytest.raises(AnalysisInputError, match="3 positions for 12"):
        read_xrd(path)


BINARY_SAMPLES = ["decay.ptu", "decay.sdt", "decay.phu"]


@pytest.mark.parametrize("name", BINARY_SAMPLES)
@pytest.mark.parametrize("damage", ["truncate_header", "truncate_data", "garbage", "empty"])
def test_damaged_binary_decays_are_refused(tmp_path, name, damage):
    data = (SAMPLES / name).read_bytes()
    path = tmp_path / name
    if damage == "truncate_header":
        path.write_bytes(data[:40])
    elif damage == "truncate_data":
        path.write_bytes(data[: len(data) - 1000])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    else:
        path.write_bytes(b"")
    with pytest.raises(AnalysisInputError):
        read_decay(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.csv", "time,counts\n", "no table"),
        ("x.csv", "just some words\nand more\n", "no table"),
        ("x.csv", "counts\n" + "\n".join("5" for _ in range(20)), "two columns"),
        ("x.csv", "time,counts\n" + "\n".join(f"{20 - i},{i}" for i in range(20)), "increase"),
        ("x.csv", "time,counts\n" + "\n".join(f"{i},-{i}" for i in range(20)), "non-negative"),
        ("x.csv", "time,counts\n" + "\n".join(f"{i},0" for i in range(20)), "no counts"),
        ("x.xyz", "1,2\n", "unknown TCSPC file type"),
    ],
)
def test_bad_decay_text_is_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AnalysisInputError, match=message):
        read_decay(path)


def test_binary_content_in_a_text_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes((SAMPLES / "decay.ptu").read_bytes())
    for reader in (read_decay, read_electrical, read_spectrum, read_xrd):
        with pytest.raises(AnalysisInputError, match="binary"):
            reader(path)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_decay(tmp_path / "nope.csv")
    for reader, name in ((read_electrical, "a.xlsx"), (read_spectrum, "a.jpg"), (read_xrd, "a.raw")):
        path = tmp_path / name
        path.write_text("1,2\n3,4\n5,6\n")
        with pytest.raises(AnalysisInputError, match="unknown"):
            reader(path)


def test_read_table_longest_numeric_block_and_metadata(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("# Operator: A\n#DATA\nx;y\n1;2\n3;4\n5;6\n7;8\nfooter 1\n")
    table = read_table(path)
    assert table.columns == ("x", "y") and table.data.shape == (4, 2)
    assert table.metadata["operator"] == "A"


def test_iv_without_current_columns(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("Voltage (V),Temperature\n" + "\n".join(f"{i},{i}" for i in range(10)))
    with pytest.raises(AnalysisInputError, match="no current column"):
        read_electrical(path)
    path.write_text("\n".join(f"{i},{i},{i}" for i in range(10)))
    with pytest.raises(AnalysisInputError, match="no column names"):
        read_electrical(path)


@pytest.mark.parametrize(
    ("reader", "suffix"),
    [
        (read_decay, ".csv"),
        (read_decay, ".ptu"),
        (read_decay, ".phu"),
        (read_decay, ".sdt"),
        (read_electrical, ".csv"),
        (read_spectrum, ".txt"),
        (read_xrd, ".xrdml"),
        (read_xrd, ".xy"),
    ],
)
def test_arbitrary_bytes_never_escape_as_anything_but_input_errors(tmp_path, reader, suffix):
    # property test: whatever the bytes (random, or a real sample with some bytes flipped), a reader
    # returns a result or raises AnalysisInputError, never another exception
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sample = {".ptu": "decay.ptu", ".phu": "decay.phu", ".sdt": "decay.sdt", ".xrdml": "xrd.xrdml"}.get(
        suffix, "decay.csv"
    )
    base = (SAMPLES / sample).read_bytes()

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        st.one_of(
            st.binary(max_size=2000),
            st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), max_size=20).map(
                lambda flips: bytes(_flip(base, flips))
            ),
            st.integers(0, len(base)).map(lambda n: base[:n]),
        )
    )
    def check(content):
        path = tmp_path / f"f{suffix}"
        path.write_bytes(content)
        try:
            reader(path)
        except AnalysisInputError:
            pass

    check()


def test_sdt_with_a_corrupt_block_length_does_not_allocate_gigabytes(tmp_path):
    # found by the property test above: these flips make sdtfile expect 7.6e8 items (2.8 GiB). The reader
    # memory-maps the file, so the short file is detected instead of allocated.
    flips = [(158, 124), (300, 210), (478, 122), (536, 49), (953, 201), (957, 140), (992, 95), (993, 251)]
    flips += [(1182, 78), (2193, 167), (2577, 182), (2921, 21), (3191, 124), (3635, 198), (3648, 223)]
    flips += [(3767, 242), (3939, 153), (3988, 176), (4159, 139)]
    path = tmp_path / "bomb.sdt"
    path.write_bytes(bytes(_flip((SAMPLES / "decay.sdt").read_bytes(), flips)))
    with pytest.raises(AnalysisInputError, match="expected 763363728 items"):
        read_decay(path)


def test_ptu_with_a_corrupt_marker_tag_is_refused_before_ptufile_computes_2_to_its_power(tmp_path):
    # found by fuzzing: ptufile evaluates 2**(ImgHdr_LineStart - 1); a corrupt value exhausts memory
    data = bytearray((SAMPLES / "decay.ptu").read_bytes())
    at = data.find(b"ImgHdr_LineStart") + 40  # tag: 32-byte name, int32 index, uint32 type, 8-byte value
    data[at : at + 8] = (2**40).to_bytes(8, "little")
    path = tmp_path / "bomb.ptu"
    path.write_bytes(bytes(data))
    with pytest.raises(AnalysisInputError, match="corrupt marker tag ImgHdr_LineStart"):
        read_decay(path)


def _flip(data: bytes, flips) -> bytearray:
    out = bytearray(data)
    for pos, value in flips:
        out[pos] = value
    return out


@pytest.mark.parametrize(
    "reader", [read_table, read_decay, read_electrical, read_spectrum, read_xrd], ids=lambda r: r.__name__
)
def test_an_over_long_csv_field_is_an_input_error(tmp_path, reader):
    """A quoted field over csv's field size limit (131072) raised csv.Error, an internal error."""
    p = tmp_path / "long.csv"
    p.write_text('time,counts\n"' + "x" * 200_000 + '",1\n0,1\n1,2\n2,3\n')
    with pytest.raises(AnalysisInputError, match=r"long.csv: line 2: .*field larger than field limit"):
        reader(p)


def test_an_over_long_line_is_refused_before_it_is_split(tmp_path):
    """A 20 MB single line of numbers would become millions of Python strings: refused by length."""
    p = tmp_path / "one-line.csv"
    p.write_bytes(b"1," * 10_000_000 + b"1\n0,1\n")
    with pytest.raises(AnalysisInputError, match=r"line 1 has 20000001 characters, at most 1048576"):
        read_table(p)
