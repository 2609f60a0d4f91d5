"""Odd image files: 16-bit images scaled to 8 bits as torchvision and Pillow scale them (one test per mode),
multi-frame files skipped and counted, symlinked folders followed and symlink loops skipped and counted."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2.functional import to_dtype

from tasks.data.imagefolder import CorruptImageError, ImageFolder, Protocol, collate_skip_corrupt, decode_image

RAMP = np.arange(256 * 256, dtype=np.uint32).reshape(256, 256).astype(np.uint16)  # every 16-bit value once


def torchvision_8bit(a: np.ndarray) -> np.ndarray:
    """The outside reference: torchvision's uint16 -> uint8 with scale=True."""
    return to_dtype(torch.from_numpy(a.astype(np.int32)).to(torch.uint16), torch.uint8, scale=True).numpy()


def grey16(mode: str, a: np.ndarray) -> Image.Image:
    """A 16-bit grey image in Pillow `mode`, holding the values of `a`."""
    if mode == "I":
        return Image.fromarray(a.astype(np.int32))
    return Image.frombytes(mode, a.shape[::-1], a.astype(">u2" if mode == "I;16B" else "<u2").tobytes())


@pytest.mark.parametrize(("mode", "suffix"), [("I;16", ".png"), ("I;16", ".tif"), ("I;16B", ".tif"),
                                              ("I;16L", ".tif"), ("I", ".tif")])
def test_16_bit_grey_is_scaled_like_torchvision(tmp_path: Path, mode: str, suffix: str):
    """Each mode, written and read back: v >> 8, the ramp's mean 127.5 stays 127.5 (clipping gave 254.5)."""
    path = tmp_path / f"grey{suffix}"
    grey16(mode, RAMP).save(path)
    with Image.open(path) as img:
        assert img.mode in ("I;16", "I;16B", "I;16L", "I")  # the file really is 16-bit as Pillow reads it
    for decoder in ("pil", "torchvision"):
        out = np.asarray(decode_image(path, decoder))
        out = out if decoder == "pil" else out.transpose(1, 2, 0)
        assert out.dtype == np.uint8 and out.shape == (256, 256, 3)
        np.testing.assert_array_equal(out[..., 0], torchvision_8bit(RAMP))
        assert (out[..., 0] == out[..., 2]).all()
        assert out.mean() == pytest.approx(127.5, abs=1e-9)


def _png_48bit(path: Path, rgb: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): IHDR bit depth 16, colour type 2, big-endian rows."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_48_bit_rgb_png_is_scaled_like_torchvision(tmp_path: Path):
    rgb = np.stack([RAMP, RAMP[::-1], RAMP.T], axis=-1)
    _png_48bit(tmp_path / "rgb48.png", rgb)
    for decoder in ("pil", "torchvision"):
        out = np.asarray(decode_image(tmp_path / "rgb48.png", decoder))
        out = out if decoder == "pil" else out.transpose(1, 2, 0)
        for c in range(3):
            np.testing.assert_array_equal(out[..., c], torchvision_8bit(rgb[..., c]))
        assert out.mean() == pytest.approx(127.5, abs=1e-9)


def test_16_bit_grey_png_through_the_dataset(tmp_path: Path):
    """A flat 16-bit image of 128.5 (x 256) on the 8-bit scale is grey 128 to the model, not white."""
    (tmp_path / "val").mkdir()
    flat = np.full((40, 40), 128 * 256 + 128, "<u2")
    Image.frombytes("I;16", (40, 40), flat.tobytes()).save(tmp_path / "val" / "a.png")
    x = ImageFolder(tmp_path, "val", Protocol(16))[0]["image"]
    assert torch.allclose(x, torch.full_like(x, 128 / 127.5 - 1.0), atol=1e-6)


def _gif(path: Path, frames: int) -> None:
    imgs = [Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)) for i in range(frames)]
    imgs[0].save(path, save_all=frames > 1, append_images=imgs[1:], duration=100, loop=0)


def test_gifs_are_listed_and_multi_frame_files_skipped_and_counted(tmp_path: Path):
    (tmp_path / "val").mkdir()
    _gif(tmp_path / "val" / "a_still.gif", 1)
    _gif(tmp_path / "val" / "b_animated.gif", 3)
    with Image.open(tmp_path / "val" / "b_animated.gif") as img:
        assert img.n_frames == 3
    ds = ImageFolder(tmp_path, "val", Protocol(16))
    assert [p.name for p in ds.paths] == ["a_still.gif", "b_animated.gif"]  # a GIF is an image file
    batch = collate_skip_corrupt([ds[0], ds[1]])
    assert batch["n_corrupt"] == 1 and batch["image"].shape == (1, 3, 16, 16)  # the animation: skipped, counted
    with pytest.raises(CorruptImageError, match="3 frames"):
        ImageFolder(tmp_path, "val", Protocol(16), on_corrupt="fail")[1]


def test_symlink_loops_are_skipped_and_counted_and_linked_folders_followed(tmp_path: Path, caplog):
    split, elsewhere = tmp_path / "data" / "train", tmp_path / "elsewhere"
    for folder in (split / "cat", elsewhere):
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "img.png")
    (split / "dog").symlink_to(elsewhere, target_is_directory=True)  # a linked class folder: followed
    (split / "cat" / "loop").symlink_to(split, target_is_directory=True)  # a folder loop
    (split / "cat" / "self.png").symlink_to(split / "cat" / "self.png")  # a file linking to itself
    (split / "cat" / "gone.png").symlink_to(tmp_path / "nothing.png")  # dangling
    ds = ImageFolder(tmp_path / "data", "train", Protocol(8))
    assert [p.relative_to(split).as_posix() for p in ds.paths] == ["cat/img.png", "dog/img.png"]
    assert ds.class_to_idx == {"cat": 0, "dog": 1}
    assert dict(ds.unlisted) == {"symlink loop": 2, "dangling link": 1}
    assert "2 symlink loop" in caplog.text and "1 dangling link" in caplog.text
