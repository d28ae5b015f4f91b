"""Lazy TIFF movie reading: metadata, memory maps, chunks, and refusal of bad files."""

import numpy as np
import pytest
import tifffile

from analysis.errors import AnalysisInputError
from analysis.movie import frame_ranges, open_movie, read_frames, strided_frame_indices, strided_projection


@pytest.fixture
def movie():
    return (np.random.default_rng(0).random((12, 10, 9)) * 1000).astype(np.uint16)


def test_contiguous_imagej_movie_is_memory_mapped_with_metadata(tmp_path, movie):
    p = tmp_path / "m.tif"
    tifffile.imwrite(
        p,
        movie,
        imagej=True,
        resolution=(1 / 0.16, 1 / 0.16),
        metadata={"axes": "TYX", "finterval": 0.05, "unit": "um"},
    )
    info = open_movie(p)
    assert info.shape == (12, 10, 9) and info.contiguous
    assert info.bin_time_s == pytest.approx(0.05) and info.pixel_size_um == pytest.approx(0.16)
    chunk = read_frames(info, 3, 7)
    assert isinstance(chunk, np.memmap) and np.array_equal(chunk, movie[3:7])


def test_compressed_movie_read_by_pages(tmp_path, movie):
    p = tmp_path / "z.tif"
    tifffile.imwrite(p, movie, compression="zlib")
    info = open_movie(p)
    assert not info.contiguous and info.bin_time_s is None and info.pixel_size_um is None
    assert np.array_equal(read_frames(info, 0, 12), movie)
    assert np.array_equal(read_frames(info, 5, 6), movie[5:6])


def test_float_movie_and_leading_singleton_axes(tmp_path, movie):
    p = tmp_path / "f.tif"
    tifffile.imwrite(p, movie.astype(np.float32)[:, None])  # (T, 1, H, W)
    info = open_movie(p)
    assert info.shape == (12, 10, 9) and np.dtype(info.dtype) == np.float32


def test_frame_ranges_and_strides():
    assert frame_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(AnalysisInputError):
        frame_ranges(10, 0)
    assert list(strided_frame_indices(5, 10)) == [0, 1, 2, 3, 4]
    idx = strided_frame_indices(6000, 200)
    assert idx.size == 200 and idx[0] == 0 and idx[-1] == 5999


def test_strided_projection_is_mean_of_sampled_frames(tmp_path, movie):
    p = tmp_path / "m.tif"
    tifffile.imwrite(p, movie)
    info = open_movie(p)
    idx = strided_frame_indices(12, 5)
    assert np.allclose(strided_projection(info, n_sample=5), movie[idx].mean(0))


def test_read_frames_refuses_range_outside(tmp_path, movie):
    p = tmp_path / "m.tif"
    tifffile.imwrite(p, movie)
    with pytest.raises(AnalysisInputError, match="outside"):
        read_frames(open_movie(p), 10, 13)


def _bad_files(tmp_path, movie):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, movie, imagej=True, metadata={"axes": "TYX"})
    data = good.read_bytes()
    end_of_pixels = open_movie(good).data_offset + movie.nbytes
    z = tmp_path / "z.tif"
    tifffile.imwrite(z, movie, compression="zlib")
    zdata = z.read_bytes()
    files = {
        "empty": b"",
        "not a tiff": b"this is not a tiff" * 20,
        "truncated contiguous": data[: end_of_pixels - 300],  # the last frames cut off
        "truncated header": data[:600],
        "truncated compressed": zdata[: len(zdata) // 2],
    }
    out = {}
    for name, content in files.items():
        path = tmp_path / f"{name.replace(' ', '_')}.tif"
        path.write_bytes(content)
        out[name] = path
    tifffile.imwrite(tmp_path / "image2d.tif", movie[0])
    out["single 2-D image"] = tmp_path / "image2d.tif"
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 8, 8, 3), np.uint8), photometric="rgb")
    out["RGB frames"] = tmp_path / "rgb.tif"
    tifffile.imwrite(tmp_path / "one.tif", movie[:1][:, None, None])
    out["one frame"] = tmp_path / "one.tif"
    return out


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "empty file"),
        ("not a tiff", "not a readable TIFF"),
        ("truncated contiguous", "truncated"),
        ("truncated header", "truncated or corrupt"),
        ("truncated compressed", "truncated or corrupt"),
        ("single 2-D image", "single 2-D image"),
        ("RGB frames", "RGB"),
        ("one frame", "single 2-D image|1 frame"),
    ],
)
def test_bad_files_are_refused_with_a_message(tmp_path, movie, case, message):
    path = _bad_files(tmp_path, movie)[case]
    with pytest.raises(AnalysisInputError, match=message) as exc:
        open_movie(path)
    assert path.name in str(exc.value) and "\n" not in str(exc.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_movie(tmp_path / "nope.tif")


def test_nan_frames_refused_in_projection(tmp_path, movie):
    f = movie.astype(np.float32)
    f[4, 2, 2] = np.nan
    p = tmp_path / "nan.tif"
    tifffile.imwrite(p, f)
    with pytest.raises(AnalysisInputError, match="NaN"):
        strided_projection(open_movie(p), n_sample=12)
