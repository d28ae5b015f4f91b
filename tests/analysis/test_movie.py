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


def _zero_tiles(frames: int, side: int, tile: int):
    """Zero tiles, one at a time: a large declared movie written in a few MB of memory."""
    block = np.zeros((tile, tile), np.uint16)
    for _ in range(frames * (side // tile) ** 2):
        yield block


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    """A 0.55 MB zlib TIFF declaring 4 frames of 8192 x 8192 uint16 (512 MiB decoded): refused from
    its tags by the frame-size limit; with a larger limit, by the compression ratio."""
    p = tmp_path / "bomb.tif"
    tifffile.imwrite(
        p,
        _zero_tiles(4, 8192, 512),
        shape=(4, 8192, 8192),
        dtype=np.uint16,
        tile=(512, 512),
        compression="zlib",
        photometric="minisblack",
        metadata={"axes": "TYX"},
    )
    assert p.stat().st_size < 2 * 2**20
    with pytest.raises(AnalysisInputError, match=r"8192 x 8192 uint16 need 134217728 bytes each"):
        open_movie(p)
    with pytest.raises(AnalysisInputError, match="decompression bomb"):
        open_movie(p, max_frame_bytes=2**30)


def test_many_small_compressed_frames_of_nothing_are_refused_by_ratio(tmp_path):
    p = tmp_path / "zeros.tif"
    tifffile.imwrite(
        p, (np.zeros((256, 256), np.uint16) for _ in range(400)), shape=(400, 256, 256), dtype=np.uint16,
        compression="zlib",
    )  # fmt: skip
    with pytest.raises(AnalysisInputError, match=r"times the file's .* at most 100 times"):
        open_movie(p)
    info = open_movie(p, max_ratio=1e6)  # when the caller knows better, it reads in bounded chunks
    assert read_frames(info, 10, 20).shape == (10, 256, 256)


def test_a_real_compressed_movie_stays_under_the_ratio(tmp_path):
    noisy = np.random.default_rng(2).poisson(100, (50, 64, 64)).astype(np.uint16)
    p = tmp_path / "noisy.tif"
    tifffile.imwrite(p, noisy, compression="zlib")
    info = open_movie(p)
    assert np.array_equal(read_frames(info, 20, 30), noisy[20:30])


def test_the_cli_refuses_a_bomb_with_one_line_and_exit_2(tmp_path, capsys):
    from analysis.cli import main

    p = tmp_path / "bomb.tif"
    tifffile.imwrite(
        p,
        _zero_tiles(4, 8192, 512),
        shape=(4, 8192, 8192),
        dtype=np.uint16,
        tile=(512, 512),
        compression="zlib",
        photometric="minisblack",
        metadata={"axes": "TYX"},
    )
    code = main(["blinking", str(p), "--out", str(tmp_path / "r.json"), "--no-progress", "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "at most" in err[0]
