"""Readers for the lab's instrument files: TCSPC histograms, Keithley 2400 exports, spectra, XRD scans.

Every reader returns a small frozen dataclass of numpy arrays in SI-like units named in the field
(``time_ns``, ``current_A``, ``wavelength_nm``, ``two_theta_deg``). Any file that cannot be read (unknown
format, corrupt, truncated, empty, binary where text was expected) raises
:class:`~analysis.errors.AnalysisInputError` with the file name and what was expected; a missing file
raises :class:`FileNotFoundError` (the command line turns both into one line and exit code 2).

Binary TCSPC formats are read by the instrument-format libraries: PicoQuant ``.ptu``/``.phu`` with
``ptufile`` and Becker & Hickl ``.sdt`` with ``sdtfile``. The text formats (CSV/TXT exports) have no
single specification, so :func:`read_table` is a tolerant parser written here: it finds the block of
numeric rows and keeps the lines above it as header (column names, units, ``key: value`` metadata).
"""

from __future__ import annotations

import csv
import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pint

from analysis.errors import AnalysisInputError
from analysis.units import check_unit_expression, ureg

__all__ = [
    "DecayHistogram",
    "ElectricalData",
    "Spectrum",
    "Table",
    "XrdPattern",
    "read_decay",
    "read_electrical",
    "read_spectrum",
    "read_table",
    "read_xrd",
]

HC_EV_NM = 1239.841984
MAX_TEXT_BYTES = 200 * 1024 * 1024
#: longest line of a text export: instrument tables are at most a few thousand columns wide; a longer
#: line is not a table, and splitting it would take many times its size in memory
MAX_LINE_CHARS = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# generic text tables


@dataclass(frozen=True, eq=False)
class Table:
    """A numeric block from a text export: ``data`` (rows x columns), the column names when the line
    above the block names them, the other header lines, and ``key: value`` metadata from the header."""

    data: np.ndarray
    columns: tuple[str, ...]
    header: tuple[str, ...]
    metadata: dict = field(default_factory=dict)


_SPLITTERS = (",", "\t", ";")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:nan|inf)$", re.IGNORECASE)


def _check_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    if path.stat().st_size == 0:
        raise AnalysisInputError(f"{path}: file is empty")
    return path


def _split(line: str) -> list[str]:
    for sep in _SPLITTERS:
        if sep in line:
            try:
                fields = next(csv.reader([line], delimiter=sep))
            except csv.Error as exc:  # e.g. a quoted field over csv's field size limit
                raise AnalysisInputError(f"cannot split a line into fields ({exc})") from None
            return [f.strip().strip('"').strip() for f in fields]
    return line.split()


def _numeric_row(fields: list[str]) -> list[float] | None:
    while fields and fields[-1] == "":  # exports often end every line with a separator
        fields = fields[:-1]
    values = [f for f in fields if f != ""]
    if not values or not all(_NUMBER.match(v) for v in values):
        return None
    if len(values) != len(fields):  # an empty cell inside a numeric row
        return None
    return [float(v) for v in values]


def read_table(path: str | os.PathLike, *, min_rows: int = 3) -> Table:
    """Read the numeric block of a CSV/TXT/ASC export.

    The block is the longest run of consecutive rows that are all numbers with the same number of
    columns (comma, tab, semicolon or whitespace separated; quotes stripped). A ``#DATA`` marker
    (Lambda 950 ASC exports) is honoured. Header lines of the form ``key: value``, ``key=value`` or
    ``key,value`` become ``metadata`` (keys lower-cased, ``#`` stripped).

    Raises
    ------
    AnalysisInputError
        Empty, binary or non-tabular files, or fewer than ``min_rows`` numeric rows.
    """
    path = _check_file(path)
    with path.open("rb") as fh:
        raw = fh.read(MAX_TEXT_BYTES)
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AnalysisInputError(f"{path}: binary file, expected a text (CSV/TXT) export")
    for encoding in ("utf-8-sig", "utf-16", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if len(line) > MAX_LINE_CHARS:
            raise AnalysisInputError(
                f"{path}: line {i + 1} has {len(line)} characters, at most {MAX_LINE_CHARS} are "
                "accepted; expected a text (CSV/TXT) table export"
            )
    start_at = 0
    for i, line in enumerate(lines):
        if line.strip().upper() == "#DATA":
            start_at = i + 1
    best = (0, 0, 0)  # length, start, ncols
    run_start, run_cols, rows = None, None, []
    parsed: list[list[float] | None] = []
    for i, line in enumerate(lines):
        try:
            row = _numeric_row(_split(line)) if i >= start_at and line.strip() else None
        except AnalysisInputError as exc:
            raise AnalysisInputError(f"{path}: line {i + 1}: {exc}") from None
        parsed.append(row)
        if row is not None and run_start is not None and len(row) == run_cols:
            continue
        if run_start is not None and i - run_start > best[0]:
            best = (i - run_start, run_start, run_cols)
        run_start, run_cols = (i, len(row)) if row is not None else (None, None)
    if run_start is not None and len(lines) - run_start > best[0]:
        best = (len(lines) - run_start, run_start, run_cols)
    length, start, ncols = best
    if length < min_rows:
        raise AnalysisInputError(
            f"{path}: no table of numbers found (expected at least {min_rows} numeric rows in a text export)"
        )
    rows = parsed[start : start + length]
    data = np.array(rows, dtype=float)
    header = tuple(line for line in lines[:start] if line.strip())
    columns: tuple[str, ...] = ()
    if header:
        try:
            names = _split(header[-1].lstrip("#").strip())
        except AnalysisInputError:
            names = []  # a header line that is not fields: no column names
        while names and names[-1] == "":
            names = names[:-1]
        if len(names) == ncols and _numeric_row(names) is None:
            columns = tuple(names)
    metadata = {}
    for line in header:
        s = line.lstrip("#").strip()
        m = re.match(r"^([^:=,]+?)\s*[:=,]\s*(.+)$", s)
        if m:
            metadata.setdefault(
                m.group(1).strip().lower(), m.group(2).strip().rstrip(",;\t").strip().strip('"')
            )
    return Table(data=data, columns=columns, header=header, metadata=metadata)


_UNIT_IN_NAME = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]")


def _unit_factor(name: str, target: str, default: str, path) -> float:
    """Factor converting a column whose name carries a unit, e.g. ``Time (ms)``, to ``target``."""
    m = _UNIT_IN_NAME.search(name)
    unit = m.group(1) if m else default
    unit = unit.replace("µ", "u").replace("μ", "u")
    try:
        check_unit_expression(unit)  # a header is text from outside: no power towers for pint
        return float(ureg.Quantity(1.0, unit).to(target).magnitude)
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, SyntaxError) as exc:
        raise AnalysisInputError(
            f"{path}: column {name!r} has unit {unit!r}, expected one convertible to {target}"
        ) from exc


# --------------------------------------------------------------------------------------------------
# TCSPC decays


@dataclass(frozen=True, eq=False)
class DecayHistogram:
    """A TCSPC histogram: bin start times (ns) and counts; the repetition rate when the file records it."""

    time_ns: np.ndarray
    counts: np.ndarray
    bin_width_ns: float
    rep_rate_hz: float | None
    source: str
    metadata: dict = field(default_factory=dict)


def read_decay(path: str | os.PathLike, *, curve: int = 0) -> DecayHistogram:
    """Read a TCSPC decay histogram from ``.csv``/``.txt``/``.dat``, ``.phu``, ``.ptu`` or ``.sdt``.

    Parameters
    ----------
    path : path-like
    curve : int
        Which histogram of a multi-curve file (``.phu`` curves, ``.ptu`` channels, ``.sdt`` data sets);
        for ``.ptu``/``.sdt`` with spatial pixels, the pixels are summed.

    Notes
    -----
    CSV: two columns, time and counts; the time unit is taken from the column name (``time (ps)``,
    default ns); the repetition rate from a header line ``rep_rate_hz: 1e6`` or ``sync rate: ...``.
    """
    path = _check_file(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".dat", ".asc"):
        return _read_decay_csv(path)
    readers = {".phu": _read_phu, ".ptu": _read_ptu, ".sdt": _read_sdt}
    if suffix not in readers:
        raise AnalysisInputError(
            f"{path}: unknown TCSPC file type {suffix!r}; expected .csv, .txt, .dat, .phu, .ptu or .sdt"
        )
    try:
        hist = readers[suffix](path, curve)
    except AnalysisInputError:
        raise
    except Exception as exc:  # the format libraries raise many types on corrupt/truncated input
        raise AnalysisInputError(f"{path}: cannot read as {suffix} ({type(exc).__name__}: {exc})") from exc
    _check_histogram(path, hist.counts)
    return hist


def _check_histogram(path, counts):
    if counts.size < 10:
        raise AnalysisInputError(f"{path}: histogram has {counts.size} bins, expected at least 10")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise AnalysisInputError(f"{path}: histogram counts must be finite and non-negative")
    if counts.sum() <= 0:
        raise AnalysisInputError(f"{path}: histogram holds no counts")


def _rep_rate_from(metadata) -> float | None:
    for key in (
        "rep_rate_hz",
        "rep rate (hz)",
        "sync rate",
        "syncrate",
        "sync rate (hz)",
        "repetition rate (hz)",
    ):
        if key in metadata:
            try:
                value = float(str(metadata[key]).split()[0])
            except ValueError:
                continue
            if value > 0:
                return value
    return None


def _read_decay_csv(path) -> DecayHistogram:
    table = read_table(path, min_rows=10)
    if table.data.shape[1] < 2:
        raise AnalysisInputError(f"{path}: expected two columns (time, counts), found {table.data.shape[1]}")
    time_name = table.columns[0] if table.columns else "time (ns)"
    time_ns = table.data[:, 0] * _unit_factor(time_name, "ns", "ns", path)
    counts = table.data[:, 1]
    _check_histogram(path, counts)
    dt = np.diff(time_ns)
    if np.any(dt <= 0):
        raise AnalysisInputError(f"{path}: time column must increase")
    return DecayHistogram(
        time_ns=time_ns,
        counts=counts,
        bin_width_ns=float(np.median(dt)),
        rep_rate_hz=_rep_rate_from(table.metadata),
        source="csv",
        metadata=dict(table.metadata),
    )


def _read_phu(path, curve) -> DecayHistogram:
    import ptufile

    with ptufile.PhuFile(path) as phu:
        n = phu.number_histograms
        if not 0 <= curve < n:
            raise AnalysisInputError(f"{path}: curve {curve} requested, the file holds {n} histograms")
        tags = phu.tags
        size = path.stat().st_size
        for k in range(n):  # a truncated file is refused whichever curve is asked for
            if int(tags["HistResDscr_DataOffset"][k]) + 4 * int(tags["HistResDscr_HistogramBins"][k]) > size:
                raise AnalysisInputError(f"{path}: truncated: histogram {k} runs past the end of the file")
        counts = np.asarray(phu.histograms(curve)[0], dtype=float).copy()
        res = tags.get("HistResDscr_MDescResolution")
        dt_s = float(res[curve]) if isinstance(res, (list, tuple)) else float(phu.tcspc_resolution)
        sync = tags.get("HistResDscr_SyncRate")
        rep = float(sync[curve]) if isinstance(sync, (list, tuple)) and sync[curve] else None
    if not dt_s > 0:
        raise AnalysisInputError(f"{path}: histogram resolution missing or zero")
    dt_ns = dt_s * 1e9
    return DecayHistogram(
        time_ns=np.arange(counts.size) * dt_ns,
        counts=counts,
        bin_width_ns=dt_ns,
        rep_rate_hz=rep,
        source="phu",
        metadata={"curves": n},
    )


def _read_ptu(path, curve) -> DecayHistogram:
    import ptufile

    with ptufile.PtuFile(path) as ptu:
        for key in ("ImgHdr_LineStart", "ImgHdr_LineStop", "ImgHdr_Frame"):
            # marker bit numbers; ptufile computes 2**(value - 1), so a corrupt value would exhaust memory
            value = ptu.tags.get(key)
            if value is not None and not (isinstance(value, int) and 0 <= value <= 64):
                raise AnalysisInputError(f"{path}: corrupt marker tag {key}={value!r}")
        if not ptu.is_t3:
            raise AnalysisInputError(f"{path}: T2 PTU file has no TCSPC histogram (T3 mode expected)")
        expected = ptu.record_offset + 4 * int(ptu.tags.get("TTResult_NumberOfRecords", 0))
        if expected > path.stat().st_size:
            raise AnalysisInputError(
                f"{path}: truncated: {ptu.number_records} records announced, file too short"
            )
        # one sync period of bins, but never more than the hardware's TCSPC range (e.g. 4096 bins for
        # PicoHarp T3): bins the instrument cannot record must not enter a fit as measured zeros
        nbins = min(int(round(ptu.global_resolution / ptu.tcspc_resolution)), int(ptu.number_bins_max))
        hist = np.asarray(ptu.decode_histogram(dtype=np.uint64, dtime=nbins), dtype=float)  # (channel, bins)
        hist = hist[:, :nbins]
        channels = hist.shape[0]
        if not 0 <= curve < channels:
            raise AnalysisInputError(f"{path}: channel {curve} requested, the file holds {channels}")
        counts = hist[curve]
        dt_ns = float(ptu.tcspc_resolution) * 1e9
        rep = float(ptu.frequency) or None
    if not dt_ns > 0:
        raise AnalysisInputError(f"{path}: TCSPC resolution missing or zero")
    return DecayHistogram(
        time_ns=np.arange(counts.size) * dt_ns,
        counts=counts,
        bin_width_ns=dt_ns,
        rep_rate_hz=rep,
        source="ptu",
        metadata={"channels": channels},
    )


def _read_sdt(path, curve) -> DecayHistogram:
    import sdtfile

    # memory-mapped: a corrupt block length then fails on the short file instead of allocating gigabytes
    with sdtfile.SdtFile(path, memmap=True) as sdt:
        return _decay_from_sdt(path, sdt, curve)


def _decay_from_sdt(path, sdt, curve) -> DecayHistogram:
    if not sdt.data:
        raise AnalysisInputError(f"{path}: SDT file holds no data blocks")
    if not 0 <= curve < len(sdt.data):
        raise AnalysisInputError(f"{path}: data set {curve} requested, the file holds {len(sdt.data)}")
    data = np.asarray(sdt.data[curve], dtype=float)
    counts = data.reshape(-1, data.shape[-1]).sum(axis=0)
    times = np.asarray(sdt.times[curve], dtype=float) * 1e9
    if times.size != counts.size or times.size < 2:
        raise AnalysisInputError(f"{path}: time axis does not match the histogram")
    dt_ns = float(times[1] - times[0])
    if not (np.isfinite(dt_ns) and dt_ns > 0):
        raise AnalysisInputError(f"{path}: invalid TCSPC bin width {dt_ns!r} ns")
    rep = None
    try:  # the sync rate counted during the measurement, when the file recorded it
        rate = float(sdt.measure_info[curve]["StopInfo"]["max_sync_rate"][0])
        rep = rate if np.isfinite(rate) and rate > 0 else None
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    return DecayHistogram(
        time_ns=times - times[0],
        counts=counts,
        bin_width_ns=dt_ns,
        rep_rate_hz=rep,
        source="sdt",
        metadata={"data_sets": len(sdt.data)},
    )


# --------------------------------------------------------------------------------------------------
# Keithley 2400 exports


@dataclass(frozen=True, eq=False)
class ElectricalData:
    """Columns of a source-meter export in A, V and s; missing columns are None.

    ``light`` is a 0/1 illumination column when the export has one. I-V files with separate dark and
    light sweeps carry ``current_dark_A`` and ``current_light_A``.
    """

    time_s: np.ndarray | None
    current_A: np.ndarray | None
    voltage_V: np.ndarray | None
    light: np.ndarray | None
    current_dark_A: np.ndarray | None
    current_light_A: np.ndarray | None
    metadata: dict = field(default_factory=dict)

    @property
    def is_time_series(self) -> bool:
        return self.time_s is not None and self.current_A is not None

    @property
    def is_iv(self) -> bool:
        return self.voltage_V is not None and (
            self.current_dark_A is not None or self.current_light_A is not None or self.current_A is not None
        )


def read_electrical(path: str | os.PathLike) -> ElectricalData:
    """Read a Keithley 2400 CSV export (photoresponse time series or I-V sweep).

    Two layouts are understood:

    * a header row naming the columns, units in brackets (``Time (s)``, ``Current (nA)``,
      ``Voltage (V)``, optional ``Light`` 0/1, or ``Current dark (A)`` / ``Current light (A)`` for I-V);
    * the instrument's raw buffer dump without header, five values per reading in the 2400's
      ``:FORM:ELEM`` default order: voltage, current, resistance, timestamp, status.
    """
    path = _check_file(path)
    if path.suffix.lower() not in (".csv", ".txt", ".dat"):
        raise AnalysisInputError(
            f"{path}: unknown source-meter file type {path.suffix!r}; expected .csv/.txt"
        )
    table = read_table(path)
    data = table.data
    cols: dict[str, np.ndarray] = {}
    if table.columns:
        for j, name in enumerate(table.columns):
            low = name.lower()
            if "time" in low:
                cols["time_s"] = data[:, j] * _unit_factor(name, "s", "s", path)
            elif "light" in low and "curr" not in low or "illum" in low:
                cols["light"] = data[:, j]
            elif "curr" in low or re.match(r"^i\b", low):
                key = "current_A"
                if "dark" in low:
                    key = "current_dark_A"
                elif "light" in low or "illum" in low:
                    key = "current_light_A"
                cols[key] = data[:, j] * _unit_factor(name, "A", "A", path)
            elif "volt" in low or re.match(r"^v\b", low):
                cols["voltage_V"] = data[:, j] * _unit_factor(name, "V", "V", path)
    elif data.shape[1] == 5:
        cols = {"voltage_V": data[:, 0], "current_A": data[:, 1], "time_s": data[:, 3]}
        if np.ptp(cols["voltage_V"]) < 1e-9 * max(1.0, abs(cols["voltage_V"][0])):
            cols.pop("voltage_V")  # constant bias: a photoresponse time series
    else:
        raise AnalysisInputError(
            f"{path}: no column names and {data.shape[1]} columns; expected a header row "
            "(Time (s), Current (A), ...) or the 2400's 5-value readings (V, I, R, t, status)"
        )
    if "current_A" not in cols and "current_dark_A" not in cols and "current_light_A" not in cols:
        raise AnalysisInputError(f"{path}: no current column found (expected e.g. 'Current (A)')")
    if "time_s" in cols and np.any(np.diff(cols["time_s"]) <= 0):
        raise AnalysisInputError(f"{path}: time column must increase")
    return ElectricalData(
        time_s=cols.get("time_s"),
        current_A=cols.get("current_A"),
        voltage_V=cols.get("voltage_V"),
        light=cols.get("light"),
        current_dark_A=cols.get("current_dark_A"),
        current_light_A=cols.get("current_light_A"),
        metadata=dict(table.metadata),
    )


# --------------------------------------------------------------------------------------------------
# spectra


@dataclass(frozen=True, eq=False)
class Spectrum:
    """A spectrum on an increasing wavelength axis; ``y_label`` is the ordinate as the file names it."""

    wavelength_nm: np.ndarray
    intensity: np.ndarray
    y_label: str
    metadata: dict = field(default_factory=dict)


def read_spectrum(path: str | os.PathLike, *, column: int = 1) -> Spectrum:
    """Read a two-column spectrum export (Lambda 950 CSV/ASC, FLS980 CSV/TXT, plain x-y).

    The abscissa is converted to wavelength in nm from its unit (a column name with ``nm``, ``eV`` or
    ``cm-1``, an FLS980 ``Xaxis`` line, else guessed from the range: 100-3000 means nm, 0.3-10 eV). The
    ordinate is ``column`` (default the second column) and is returned as read.
    """
    path = _check_file(path)
    if path.suffix.lower() not in (".csv", ".txt", ".dat", ".asc", ".sp"):
        raise AnalysisInputError(
            f"{path}: unknown spectrum file type {path.suffix!r}; expected .csv/.txt/.asc"
        )
    table = read_table(path, min_rows=5)
    if table.data.shape[1] <= column:
        raise AnalysisInputError(
            f"{path}: expected at least {column + 1} columns, found {table.data.shape[1]}"
        )
    x, y = table.data[:, 0], table.data[:, column]
    xname = table.columns[0].lower() if table.columns else ""
    hint = (xname + " " + str(table.metadata.get("xaxis", ""))).lower()
    if "ev" in re.findall(r"[a-z]+", hint) or "energy" in hint:
        unit = "eV"
    elif "cm-1" in hint or "wavenumber" in hint or "1/cm" in hint:
        unit = "cm-1"
    elif "nm" in hint or "wavelength" in hint:
        unit = "nm"
    elif 100 <= np.nanmin(x) and np.nanmax(x) <= 3000:
        unit = "nm"
    elif 0.3 <= np.nanmin(x) and np.nanmax(x) <= 10:
        unit = "eV"
    else:
        raise AnalysisInputError(
            f"{path}: cannot tell the abscissa unit (nm, eV or cm-1) of {x.min():g}-{x.max():g}"
        )
    if np.any(x <= 0):
        raise AnalysisInputError(f"{path}: abscissa must be positive")
    wl = {"nm": x, "eV": HC_EV_NM / x, "cm-1": 1e7 / x}[unit]
    order = np.argsort(wl)
    wl, y = wl[order], y[order]
    if np.any(np.diff(wl) == 0):
        raise AnalysisInputError(f"{path}: repeated abscissa values")
    y_label = table.columns[column] if table.columns else str(table.metadata.get("yaxis", ""))
    return Spectrum(wavelength_nm=wl, intensity=y, y_label=y_label, metadata=dict(table.metadata))


# --------------------------------------------------------------------------------------------------
# XRD


@dataclass(frozen=True, eq=False)
class XrdPattern:
    """A 2theta scan; ``wavelength_angstrom`` is K-alpha1 when the file gives it (Cu: 1.5406 A)."""

    two_theta_deg: np.ndarray
    intensity: np.ndarray
    wavelength_angstrom: float | None
    counting_time_s: float | None
    metadata: dict = field(default_factory=dict)


def read_xrd(path: str | os.PathLike) -> XrdPattern:
    """Read an XRD scan: PANalytical ``.xrdml`` or a two-column ``.xy``/``.csv``/``.txt`` (2theta, counts)."""
    path = _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".xrdml":
        return _read_xrdml(path)
    if suffix in (".xy", ".csv", ".txt", ".dat"):
        table = read_table(path, min_rows=10)
        if table.data.shape[1] < 2:
            raise AnalysisInputError(f"{path}: expected two columns (2theta, intensity)")
        tt, y = table.data[:, 0], table.data[:, 1]
        if np.any(np.diff(tt) <= 0):
            raise AnalysisInputError(f"{path}: 2theta column must increase")
        return XrdPattern(tt, y, None, None, dict(table.metadata))
    raise AnalysisInputError(f"{path}: unknown XRD file type {suffix!r}; expected .xrdml, .xy, .csv or .txt")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(elem, name):
    for child in elem.iter():
        if _local(child.tag) == name:
            return child
    return None


def _read_xrdml(path) -> XrdPattern:
    """Parse XRDML (PANalytical's XML schema, versions 1.x-2.x, namespace ignored).

    The first scan's 2theta positions (start/end or an explicit list) and its ``intensities`` (already
    corrected) or raw ``counts`` (multiplied by ``beamAttenuationFactors`` when present) are read.

    Documents with a DOCTYPE or entity declarations are refused outright (what defusedxml does), so
    no external entity or entity-expansion bomb can be processed.
    """
    raw = path.read_bytes()
    head = raw[:65536].lower()
    if b"<!doctype" in head or b"<!entity" in raw.lower():
        raise AnalysisInputError(f"{path}: XML with DOCTYPE/ENTITY declarations is refused")
    try:
        root = ET.parse(io.BytesIO(raw)).getroot()
    except (ET.ParseError, LookupError, UnicodeError, ValueError) as exc:  # LookupError: unknown encoding
        raise AnalysisInputError(f"{path}: not well-formed XML ({exc})") from exc
    if _local(root.tag) != "xrdMeasurements":
        raise AnalysisInputError(f"{path}: root element is {_local(root.tag)!r}, expected 'xrdMeasurements'")
    scans = [e for e in root.iter() if _local(e.tag) == "scan"]
    scan = scans[0] if scans else None
    dp = _find(scan, "dataPoints") if scan is not None else None
    if dp is None:
        raise AnalysisInputError(f"{path}: no scan/dataPoints element")
    try:
        counts_el = next((c for c in dp if _local(c.tag) in ("intensities", "counts")), None)
        if counts_el is None or not (counts_el.text or "").strip():
            raise AnalysisInputError(f"{path}: no intensities/counts in dataPoints")
        y = np.array(counts_el.text.split(), dtype=float)
        if _local(counts_el.tag) == "counts":
            # raw <counts> (XRDML 1.0 and 2.x) still need the attenuator factors; <intensities> have them
            att = next((c for c in dp if _local(c.tag) == "beamAttenuationFactors"), None)
            if att is not None and (att.text or "").strip():
                factors = np.array(att.text.split(), dtype=float)
                if factors.size != y.size:
                    raise AnalysisInputError(
                        f"{path}: {factors.size} attenuation factors for {y.size} counts"
                    )
                y = y * factors
        pos = next(
            (c for c in dp if _local(c.tag) == "positions" and c.get("axis") in ("2Theta", "2-Theta")), None
        )
        if pos is None:
            raise AnalysisInputError(f"{path}: no 2Theta positions in dataPoints")
        listed = next((c for c in pos if _local(c.tag) == "listPositions"), None)
        if listed is None and not any(_local(c.tag) == "startPosition" for c in pos):
            raise AnalysisInputError(
                f"{path}: 2Theta is fixed in this scan (an omega/rocking scan), not a 2theta scan"
            )
        if listed is not None:
            tt = np.array(listed.text.split(), dtype=float)
        else:
            start = float(next(c for c in pos if _local(c.tag) == "startPosition").text)
            end = float(next(c for c in pos if _local(c.tag) == "endPosition").text)
            tt = np.linspace(start, end, y.size)
        ct_el = next((c for c in dp if _local(c.tag) == "commonCountingTime"), None)
        counting_time = float(ct_el.text) if ct_el is not None and ct_el.text else None
        wl_el = _find(root, "kAlpha1")
        wavelength = float(wl_el.text) if wl_el is not None and wl_el.text else None
    except (StopIteration, ValueError, TypeError, AttributeError) as exc:
        raise AnalysisInputError(f"{path}: malformed XRDML data points ({exc})") from exc
    if tt.size != y.size or y.size < 10:
        raise AnalysisInputError(f"{path}: {tt.size} positions for {y.size} intensities (need >= 10, equal)")
    if not np.all(np.isfinite(y)) or np.any(np.diff(tt) <= 0):
        raise AnalysisInputError(f"{path}: intensities must be finite and 2theta increasing")
    sample = _find(root, "sample")
    name = _find(sample, "name") if sample is not None else None
    comment = " ".join((e.text or "") for e in root.iter() if _local(e.tag) == "entry")
    return XrdPattern(
        two_theta_deg=tt,
        intensity=y,
        wavelength_angstrom=wavelength,
        counting_time_s=counting_time,
        metadata={
            "sample": name.text if name is not None else None,
            "comment": comment.strip(),
            "scans_in_file": len(scans),  # only the first is read
        },
    )
