"""Small sampling helpers shared by the sheet checks."""

from __future__ import annotations

import cv2
import numpy as np

from vision.mesh import Mesh


def sample_points(channel: np.ndarray, pts: np.ndarray, radius: int = 2) -> np.ndarray:
    """Mean of a (2r+1)^2 neighbourhood at each image point (x, y); NaN outside the image."""
    h, w = channel.shape[:2]
    xi = np.rint(pts[..., 0]).astype(int)
    yi = np.rint(pts[..., 1]).astype(int)
    inside = (xi >= radius) & (xi < w - radius) & (yi >= radius) & (yi < h - radius)
    out = np.full(pts.shape[:-1] + channel.shape[2:], np.nan, np.float64)
    if not inside.any():
        return out
    offs = np.arange(-radius, radius + 1)
    ys = yi[inside][:, None, None] + offs[None, :, None]
    xs = xi[inside][:, None, None] + offs[None, None, :]
    vals = channel[ys, xs].astype(np.float64)
    out[inside] = vals.reshape(vals.shape[0], -1, *channel.shape[2:]).mean(axis=1)
    return out


def warp_patch(img: np.ndarray, mesh: Mesh, x_mm: float, y_mm: float, w_mm: float,
               h_mm: float, px_per_mm: float) -> np.ndarray:
    """Resample a sheet rectangle (mm) of the image into an upright patch at ``px_per_mm``."""
    a = mesh.affine_at(x_mm, y_mm, px_per_mm)
    size = (round(w_mm * px_per_mm), round(h_mm * px_per_mm))
    return cv2.warpAffine(img, a, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
