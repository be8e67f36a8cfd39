"""A phone photo of printed paper, for testing that printed QR codes survive a real camera.

Used by the report tests and ``pcos bench printer``: the printed roll (a 1-bit
raster, as the virtual printer decoded it) is scaled, seen in perspective,
blurred, unevenly lit, noised and written as a lossy JPEG (or a PNG).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from firmware import escpos


def phone_photo(paper: np.ndarray, path: Path, seed: int, jpeg_quality: int = 70,
                blur_px: float = 1.5) -> Path:
    """A phone photo of printed paper: perspective, blur, uneven light, noise, JPEG (or PNG).

    ``paper`` is a 1-bit raster (True = black). The paper is scaled ~1.6×,
    its corners moved up to ±60 px, laid on a dark table, blurred (σ ``blur_px``),
    lit unevenly, and noised (σ 8 grey levels) before lossy compression.
    """
    rng = np.random.default_rng(seed)
    grey = escpos.to_grey(paper)
    h, w = grey.shape
    s = 1.6
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    corners = [[150, 150], [150 + w * s, 150], [150 + w * s, 150 + h * s], [150, 150 + h * s]]
    dst = np.array([[x + rng.uniform(-60, 60), y + rng.uniform(-60, 60)] for x, y in corners],
                   dtype=np.float32)
    size = (int(w * s + 300), int(h * s + 300))
    warped = cv2.warpPerspective(grey, cv2.getPerspectiveTransform(src, dst), size,
                                 borderValue=70).astype(np.float64)
    photo = np.asarray(cv2.GaussianBlur(warped, (0, 0), blur_px), dtype=np.float64)
    light = np.linspace(0.8, 1.0, size[0])[None, :]
    photo = photo * light * 0.9 + 15 + rng.normal(0, 8, photo.shape)
    image = np.clip(photo, 0, 255).astype(np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f"cannot write {path}")
    return path
