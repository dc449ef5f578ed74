"""PNG encoding of image tensors for ``"output_format": "png"`` — the same bytes rules as
main/sampling/png.ts: 8-bit grayscale or RGB, filter 0 on every scanline, zlib deflate."""
from __future__ import annotations

import base64
import struct
import zlib
from typing import List

import numpy as np

from errors import RequestError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def to_bytes(values: np.ndarray, pixel_range: str) -> np.ndarray:
    """Floats to 8 bits: scale to [0, 255], round half up, clamp; NaN becomes 0."""
    v = np.asarray(values, dtype=np.float64)
    unit = (v + 1.0) / 2.0 if pixel_range == "[-1,1]" else v
    scaled = np.floor(unit * 255.0 + 0.5)
    scaled = np.where(scaled > 0, scaled, 0.0)  # also maps NaN to 0
    return np.minimum(scaled, 255.0).astype(np.uint8)


def encode_png(image: np.ndarray, pixel_range: str) -> bytes:
    """One image [C, H, W] (C = 1 or 3) as PNG bytes."""
    channels, height, width = image.shape
    if channels not in (1, 3):
        raise RequestError(400, f"PNG output needs images with 1 or 3 channels, got {channels}",
                           {"channels": channels})
    pixels = to_bytes(np.transpose(image, (1, 2, 0)), pixel_range).reshape(height, width * channels)
    raw = np.zeros((height, 1 + width * channels), dtype=np.uint8)
    raw[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes()))
            + _chunk(b"IEND", b""))


def images_to_png_base64(images: np.ndarray, pixel_range: str) -> List[str]:
    if images.ndim != 4 or min(images.shape) < 1:
        raise RequestError(400, f"PNG output needs an image batch [B, C, H, W], got {list(images.shape)}")
    return [base64.b64encode(encode_png(img, pixel_range)).decode("ascii") for img in images]
