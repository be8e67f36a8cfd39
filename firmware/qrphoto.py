"""Find and decode the QR codes in a photo or scan of printed paper.

An observer's phone photo of a report is skewed, blurred and noisy, and holds
several codes at once. OpenCV's detectors (the classic ``QRCodeDetector`` and
the ArUco-based ``QRCodeDetectorAruco``) are tried on the whole image, then on
overlapping windows down the paper, where one code fills more of the view;
the search stops as soon as the quick-results parts found are complete.
zxing-cpp is used instead when asked for (``engine="zxing"``) and installed;
the tests use it as an independent second reader.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from election.errors import PcosError
from firmware import quickresults


class PhotoError(PcosError):
    """An image cannot be read, or no QR code could be decoded from it."""


class Engine(StrEnum):
    OPENCV = "opencv"
    ZXING = "zxing"


def load_grey(path: str | os.PathLike[str]) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise PhotoError(f"{path}: not a readable image")
    return image


def _complete(texts: Iterable[str]) -> bool:
    parts: dict[str, set[int]] = {}
    counts: dict[str, int] = {}
    for t in texts:
        if not quickresults.is_part(t):
            continue
        try:
            p = quickresults.parse_part(t)
        except quickresults.QuickResultsError:
            continue
        parts.setdefault(p.digest, set()).add(p.index)
        counts[p.digest] = p.count
    return any(len(idx) == counts[d] for d, idx in parts.items())


def _opencv_views(image: np.ndarray) -> Iterator[np.ndarray]:
    """The whole image (at most ~2000 px), then overlapping windows down it.

    A window a little taller than wide, moved by an eighth of its size, holds
    each code of a roll whole, with little else around it to mislead the detector.
    """
    h, w = image.shape
    scale = min(1.0, 2000 / max(h, w))
    yield image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale,
                                                interpolation=cv2.INTER_AREA)
    short = min(h, w)
    for frac in (1.0, 0.7):
        win = max(64, int(short * frac))
        tall = min(h, int(win * 1.1))
        for y in range(0, max(1, h - tall) + 1, max(16, win // 8)):
            for x in range(0, max(1, w - win) + 1, max(16, win // 3)):
                yield image[y:y + tall, x:x + win]


def _opencv_decode(image: np.ndarray) -> Iterator[str]:
    aruco = cv2.QRCodeDetectorAruco()
    classic = cv2.QRCodeDetector()
    for view in _opencv_views(image):
        try:
            ok, texts, _, _ = aruco.detectAndDecodeMulti(view)
            if ok:
                yield from (t for t in texts if t)
            text, _, _ = classic.detectAndDecode(view)
        except cv2.error:
            continue
        if text:
            yield text


def _zxing_decode(image: np.ndarray) -> Iterator[str]:
    try:
        import zxingcpp
    except ImportError:
        raise PhotoError("zxing-cpp is not installed (pip install zxing-cpp)") from None
    for result in zxingcpp.read_barcodes(image):
        if result.text:
            yield result.text


def decode_image(image: np.ndarray, engine: Engine = Engine.OPENCV) -> list[str]:
    """Distinct QR texts found in a grey image, in the order found."""
    found: list[str] = []
    source = _opencv_decode(image) if engine is Engine.OPENCV else _zxing_decode(image)
    for text in source:
        if text not in found:
            found.append(text)
            if _complete(found):
                break
    return found


def decode_files(paths: Iterable[str | os.PathLike[str]], engine: Engine = Engine.OPENCV
                 ) -> list[str]:
    """Distinct QR texts in every image (a report may be photographed in several pieces)."""
    found: list[str] = []
    for path in paths:
        for text in decode_image(load_grey(Path(path)), engine):
            if text not in found:
                found.append(text)
    if not found:
        raise PhotoError("no QR code could be decoded from the image(s)")
    return found
