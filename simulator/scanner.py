"""A duplex 200 DPI colour sheet-fed scanner, as a PCOS sees it.

Geometry (per sheet, drawn from the preset):
    feed orientation (printed side to the front or back camera, head or tail
    first), skew, translation, optical scale, a slight trapezoid, and uneven
    feed speed. Feed speed varies with *time*, i.e. with the image row, so the
    image is built in horizontal bands, each an exact projective map of the
    sheet; the bands join without seams because the speed profile is continuous.

Photometry: paper tint, smooth uneven illumination, a colour cast and
white-balance drift (one per-channel gain field, applied on the sheet), optics
blur (applied once to the cached blank ballot and to each ink patch, which is
equivalent and far cheaper than blurring every page), faded toner, folds and
creases, bleed-through from the other side, vertical streaks from dirty glass
(fixed image columns), cropped edges, sensor noise and JPEG compression.

The image is as wide as the scan window and as long as the fed material plus
an over-scan margin on a dark backing, as real sheet-fed scanners deliver it.
Scanner profiles change that: 150-300 DPI, a grey or white backing, images
cropped to the page (no backing past the paper), a greyscale sensor, and the
device's tone curve (gamma). Print variation (``simulator.print_run``) is
drawn per print run.
Images are RGB ``uint8``; internally 4 channels, because OpenCV's warps are
several times faster on 4 channels than on 3.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import math
import os
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from election.geometry import px_per_mm

NOISE_CACHE_VERSION = 1  # bump when the noise tile's draw changes
NOISE_MAGIC = b"PCOS-NOISE1\n"  # then zstd of the positive, then the negative tile


class Side(StrEnum):
    FRONT = "front"
    BACK = "back"


@dataclass(frozen=True)
class Orientation:
    """Which camera sees the printed side, and whether the head of the sheet came first."""

    side: Side
    rotated: bool  # True: fed tail first, so the print is upside down in its image

    @property
    def label(self) -> str:
        return f"{self.side.value}/{180 if self.rotated else 0}"

    @classmethod
    def parse(cls, label: str) -> Orientation:
        side, deg = label.split("/")
        return cls(Side(side), deg == "180")


ORIENTATIONS = tuple(Orientation(s, r) for s in Side for r in (False, True))


BACKING_RGB: dict[str, tuple[int, int, int]] = {
    "dark": (52, 54, 58),
    "grey": (128, 128, 125),
    "white": (232, 232, 228),
}


@dataclass(frozen=True)
class ScannerParams:
    """Every effect's parameters. Ranges are (low, high) of a uniform draw."""

    dpi: float = 200.0
    window_w_mm: float = 220.0
    overscan_mm: float = 5.0
    backing_rgb: tuple[int, int, int] = (52, 54, 58)
    backing: str = "dark"  # dark | grey | white (``with_backing`` sets the colour too)
    cropped: bool = False  # images cropped to the page's bounding box
    greyscale: bool = False  # greyscale sensor (the three channels are equal)
    gamma: tuple[float, float] = (1.0, 1.0)  # device tone curve: out = in ** gamma
    # print variation: ``print_runs`` runs drawn per seed, each sheet from one of them
    print_runs: int = 1
    dot_gain_px: tuple[float, float] = (0.0, 0.0)  # at 200 DPI
    toner: tuple[float, float] = (1.0, 1.0)
    print_offset_mm: float = 0.0
    print_scale: tuple[float, float] = (1.0, 1.0)
    misregistration_mm: float = 0.0
    # geometry
    rotation_deg: float = 3.0
    shift_mm: float = 2.5
    scale: tuple[float, float] = (0.97, 1.03)
    stretch: float = 0.02  # max relative feed-speed deviation
    stretch_bands: int = 8
    trapezoid: float = 0.002
    # photometry
    paper_rgb: tuple[tuple[int, int, int], tuple[int, int, int]] = ((238, 236, 228),
                                                                    (250, 249, 246))
    illumination: float = 0.05  # amplitude of smooth gain variation
    colour_cast: float = 0.03  # s.d. of per-channel gain
    blur_px: tuple[float, ...] = (0.6, 0.9)
    noise_sigma: float = 2.5
    bleed_through: tuple[float, float] = (0.02, 0.06)
    faded_probability: float = 0.05
    faded: tuple[float, float] = (0.75, 0.9)
    fold_probability: float = 0.10
    fold_strength: tuple[float, float] = (0.03, 0.08)
    streak_probability: float = 0.03
    streak_strength: tuple[float, float] = (4.0, 14.0)  # grey levels
    crop_probability: float = 0.0
    crop_mm: tuple[float, float] = (1.0, 4.0)
    jpeg_probability: float = 0.25
    jpeg_quality: tuple[int, int] = (82, 95)

    def with_(self, **changes: object) -> ScannerParams:
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_backing(self, name: str) -> ScannerParams:
        return replace(self, backing=name, backing_rgb=BACKING_RGB[name])

    @property
    def print_varies(self) -> bool:
        return (self.dot_gain_px != (0.0, 0.0) or self.toner != (1.0, 1.0)
                or self.print_offset_mm > 0 or self.print_scale != (1.0, 1.0)
                or self.misregistration_mm > 0)


# Print variation of an ordinary print house (realistic and harsh presets).
PRINT_VARIATION: dict[str, object] = dict(
    print_runs=4, dot_gain_px=(0.0, 2.0), toner=(0.92, 1.06), print_offset_mm=1.0,
    print_scale=(0.997, 1.003), misregistration_mm=0.2)


PRESETS: dict[str, ScannerParams] = {
    "clean": ScannerParams(
        rotation_deg=0.5, shift_mm=1.0, scale=(0.995, 1.005), stretch=0.003, trapezoid=0.0,
        illumination=0.01, colour_cast=0.005, blur_px=(0.5,), noise_sigma=1.0,
        bleed_through=(0.0, 0.01), faded_probability=0.0, fold_probability=0.0,
        streak_probability=0.0, jpeg_probability=0.0,
    ),
    "realistic": ScannerParams(**PRINT_VARIATION),  # type: ignore[arg-type]
    "harsh": ScannerParams(
        rotation_deg=5.0, shift_mm=5.0, scale=(0.96, 1.04), stretch=0.03, trapezoid=0.004,
        illumination=0.15, colour_cast=0.08, blur_px=(1.0, 1.4, 1.8), noise_sigma=6.0,
        bleed_through=(0.04, 0.12), faded_probability=0.3, faded=(0.5, 0.8),
        fold_probability=0.5, fold_strength=(0.08, 0.25), streak_probability=0.25,
        streak_strength=(30.0, 110.0), crop_probability=0.25, crop_mm=(3.0, 14.0),
        jpeg_probability=1.0, jpeg_quality=(45, 80),
    ),
}


def preset(name: str) -> ScannerParams:
    try:
        return PRESETS[name]
    except KeyError:
        from election.errors import PcosError

        raise PcosError(f"unknown scanner preset {name!r}; known: {', '.join(PRESETS)}") from None


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class FeedGeometry:
    """Where a sheet lands in the image: ``sheet_to_transport`` and the feed-speed profile."""

    matrix: np.ndarray  # 3x3 homography: sheet px -> transport px (before speed variation)
    knots: np.ndarray  # image rows where the speed changes, ascending, first 0
    offsets: np.ndarray  # transport row at each knot (piecewise-linear, continuous)
    image_h: int
    image_w: int

    def transport_row(self, rows: np.ndarray) -> np.ndarray:
        return np.interp(rows, self.knots, self.offsets)

    def scaled(self, f: float, image_hw: tuple[int, int]) -> FeedGeometry:
        """The same geometry on a grid ``f`` times finer (f < 1: coarser) in sheet and image."""
        s = np.diag([f, f, 1.0])
        return FeedGeometry(s @ self.matrix @ np.linalg.inv(s), self.knots * f,
                            self.offsets * f, image_hw[0], image_hw[1])


def _homography(sheet_w: float, sheet_h: float, ppm: float, rot_deg: float, scale: float,
                trap: tuple[float, float], shift: tuple[float, float], rotated: bool,
                window_w: float, top: float) -> np.ndarray:
    cx, cy = sheet_w / 2, sheet_h / 2
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
    flip = np.diag([-1.0, -1.0, 1.0]) if rotated else np.eye(3)
    persp = np.array([[1, 0, 0], [0, 1, 0], [trap[0] / sheet_w, trap[1] / sheet_h, 1]])
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    rot = np.array([[c * scale, -s * scale, 0], [s * scale, c * scale, 0], [0, 0, 1]])
    place = np.array([[1, 0, window_w / 2 + shift[0]], [0, 1, top + shift[1]], [0, 0, 1]])
    return place @ rot @ persp @ flip @ to_centre


def draw_geometry(rng: np.random.Generator, p: ScannerParams, sheet_hw: tuple[int, int],
                  rotated: bool, extra_len_px: int = 0) -> FeedGeometry:
    ppm = px_per_mm(p.dpi)
    sh, sw = sheet_hw
    scale = float(rng.uniform(*p.scale))
    rot = float(rng.uniform(-p.rotation_deg, p.rotation_deg))
    trap = (float(rng.uniform(-p.trapezoid, p.trapezoid)),
            float(rng.uniform(-p.trapezoid, p.trapezoid)))
    # Across the feed the sheet lands anywhere within the shift; along it, the image
    # starts a fixed over-scan before the leading edge, plus a little trigger jitter.
    shift = (float(rng.uniform(-p.shift_mm, p.shift_mm)) * ppm,
             float(rng.uniform(0.0, p.shift_mm)) * ppm * 0.4)
    window_w = round(p.window_w_mm * ppm)
    # Extent of the placed sheet along the feed, to size the image.
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    half_len = (abs(s) * sw + abs(c) * sh) * scale / 2
    overscan = p.overscan_mm * ppm
    top = overscan + half_len
    m = _homography(sw, sh, ppm, rot, scale, trap, shift, rotated, window_w, top)
    transport_h = math.ceil(2 * half_len + 2 * overscan) + extra_len_px
    # Feed speed: piecewise-constant speed per band -> piecewise-linear transport row.
    n = max(1, p.stretch_bands)
    speeds = 1.0 + rng.uniform(-p.stretch, p.stretch, n)
    image_h = round(transport_h / speeds.mean())
    knots = np.linspace(0, image_h, n + 1)
    offsets = np.concatenate([[0.0], np.cumsum(np.diff(knots) * speeds)])
    offsets *= transport_h / offsets[-1]
    return FeedGeometry(m, knots, offsets, image_h, window_w)


TILE_W = 192  # destination columns per warp call: keeps source reads cache-local under skew


def warp_sheet(src: np.ndarray, geo: FeedGeometry, border: tuple[int, ...]) -> np.ndarray:
    """Scan a sheet image (RGBA, sheet px) into the image grid of ``geo``.

    Each band of rows is an exact projective map (the feed speed is constant
    within it). Bands are cut into column tiles: OpenCV's warp slows down 3x
    on skewed input when whole rows are done at once, because its source reads
    then stride across many rows.
    """
    out = np.empty((geo.image_h, geo.image_w, src.shape[2]), np.uint8)
    inv = np.linalg.inv(geo.matrix)
    for k in range(len(geo.knots) - 1):
        r0, r1 = round(geo.knots[k]), round(geo.knots[k + 1])
        r1 = min(r1, geo.image_h)
        if r1 <= r0:
            continue
        slope = (geo.offsets[k + 1] - geo.offsets[k]) / (geo.knots[k + 1] - geo.knots[k])
        start = geo.offsets[k] + slope * (r0 - geo.knots[k])
        for c0 in range(0, geo.image_w, TILE_W):
            c1 = min(geo.image_w, c0 + TILE_W)
            band = np.array([[1, 0, c0], [0, slope, start], [0, 0, 1]], np.float64)
            cv2.warpPerspective(src, inv @ band, (c1 - c0, r1 - r0), dst=out[r0:r1, c0:c1],
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return out


# --------------------------------------------------------------------------- photometry


@dataclass
class NoiseBank:
    """Pre-drawn sensor noise, offset at random per image (drawing it each time costs ~50 ms).

    The tile has a fixed size, drawn once from the seed, and wraps around for
    images larger than it (a double feed), so the noise of an image never
    depends on which images came before it. Zero-mean noise is kept as two
    saturating uint8 planes, its positive and negative parts, so applying it is
    one ``add`` and one ``subtract``.
    """

    sigma: float
    seed: int = 0
    tile_hw: tuple[int, int] = (2600, 1760)
    # Where the drawn tile is kept on disk (``None``: in memory only): drawing it costs a
    # device ~0.6 s of CPU at every power-on, reading it back ~0.03 s. The file is named
    # by everything its pixels depend on, numpy's version included (the normal draws).
    cache_dir: Path | None = None
    _pos: np.ndarray | None = field(default=None, repr=False)
    _neg: np.ndarray | None = field(default=None, repr=False)

    def _tiles(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pos is None or self._neg is None:
            kept = self._read_cached()
            if kept is not None:
                self._pos, self._neg = kept
            else:
                self._pos, self._neg = self._draw()
                self._write_cached(self._pos, self._neg)
        return self._pos, self._neg

    def prepare(self) -> None:
        """Draw the tile now (or read it from ``cache_dir``), not at the first image."""
        self._tiles()

    def _draw(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 0x5E45])
        hh, ww = self.tile_hw
        luma = rng.normal(0.0, self.sigma, (hh, ww, 1)).astype(np.float32)
        n = np.rint(luma + rng.normal(0.0, self.sigma * 0.35, (hh, ww, 3)).astype(np.float32))
        return np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)

    def cache_path(self) -> Path | None:
        if self.cache_dir is None or _codecs is None or not getattr(
                getattr(_codecs, "ZSTD", None), "available", False):
            return None
        ident = repr((NOISE_CACHE_VERSION, float(self.sigma), int(self.seed),
                      tuple(int(v) for v in self.tile_hw), np.__version__))
        return self.cache_dir / f"noise-{hashlib.sha256(ident.encode()).hexdigest()[:24]}.bin"

    def _read_cached(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The kept tile, or None when there is none (or it is not whole)."""
        path = self.cache_path()
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not data.startswith(NOISE_MAGIC):
            return None
        try:
            raw = _codecs.zstd_decode(data[len(NOISE_MAGIC):])
        except Exception:  # imagecodecs raises its own error types (a cut or bad file)
            return None
        hh, ww = self.tile_hw
        if len(raw) != 2 * hh * ww * 3:
            return None
        both = np.frombuffer(raw, np.uint8).reshape(2, hh, ww, 3)
        both.setflags(write=False)  # the tile is only ever read
        return both[0], both[1]

    def _write_cached(self, pos: np.ndarray, neg: np.ndarray) -> None:
        path = self.cache_path()
        if path is None:
            return
        packed = _codecs.zstd_encode(pos.tobytes() + neg.tobytes(), level=1)
        write_cache_file(path, NOISE_MAGIC + bytes(packed))

    @staticmethod
    def _window(tile: np.ndarray, oy: int, ox: int, h: int, w: int) -> np.ndarray:
        th, tw = tile.shape[:2]
        if oy + h <= th and ox + w <= tw:
            return tile[oy : oy + h, ox : ox + w]
        rows = (oy + np.arange(h)) % th
        cols = (ox + np.arange(w)) % tw
        return tile[rows[:, None], cols[None, :]]

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Add noise to an RGB image in place (and return it)."""
        if self.sigma <= 0:
            return img
        h, w = img.shape[:2]
        pos, neg = self._tiles()
        # Offsets keep the window inside the tile when it fits (a plain slice, fast).
        th, tw = pos.shape[:2]
        oy = int(rng.integers(0, th - h + 1 if h <= th else th))
        ox = int(rng.integers(0, tw - w + 1 if w <= tw else tw))
        cv2.add(img, self._window(pos, oy, ox, h, w), dst=img)
        cv2.subtract(img, self._window(neg, oy, ox, h, w), dst=img)
        return img


def gain_field(rng: np.random.Generator, p: ScannerParams, hw: tuple[int, int]) -> np.ndarray:
    """Paper tint x illumination x colour cast, as an RGBA uint8 multiplier (255 = 1.0).

    Smooth at 1/8 scale, then enlarged by pixel replication: a step of an
    eighth of a percent every 8 px is invisible, and 2.5x cheaper than
    interpolating at full size. :func:`gain_rows` and :func:`apply_gain` give the
    same product without making the full-size field.
    """
    return np.repeat(gain_rows(rng, p, hw), 8, axis=0)[: hw[0]]


def gain_rows(rng: np.random.Generator, p: ScannerParams, hw: tuple[int, int]) -> np.ndarray:
    """The distinct rows of :func:`gain_field` (the same draws): row ``i`` is image rows
    ``8i .. 8i+7``; shape ``(ceil(h / 8), w, 4)``."""
    lo, hi = np.array(p.paper_rgb[0], np.float32), np.array(p.paper_rgb[1], np.float32)
    paper = lo + (hi - lo) * np.float32(rng.random())
    cast = 1.0 + rng.normal(0.0, p.colour_cast, 3).astype(np.float32)
    coarse = 1.0 + rng.uniform(-p.illumination, p.illumination, (4, 3, 1)).astype(np.float32)
    base = np.clip(paper * cast, 0, 255)
    field4 = np.concatenate([coarse * base, np.full((4, 3, 1), 255, np.float32)], axis=2)
    tiny = np.clip(field4, 0, 255).astype(np.uint8)
    h8, w8 = max(1, (hw[0] + 7) // 8), max(1, (hw[1] + 7) // 8)
    eighth = cv2.resize(tiny, (w8, h8), interpolation=cv2.INTER_LINEAR)
    # nearest resize by an integer factor: source column x // 8, as the full-size resize
    return cv2.resize(eighth, (w8 * 8, h8), interpolation=cv2.INTER_NEAREST)[:, : hw[1]]


def apply_gain(img: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``cv2.multiply(img, gain_field(...), scale=1/255)`` from the field's rows alone,
    exactly (the same elementwise operation; tested): every 8th image row, from row ``k``,
    is multiplied by the rows in one call, so the full-size field (15.5 MB for an A4 sheet)
    is never written or read (~2x faster)."""
    out = np.empty_like(img)
    h = img.shape[0]
    for k in range(min(8, h)):
        n = (h - k + 7) // 8
        dst = out[k::8]
        got = cv2.multiply(img[k::8], rows[:n], dst=dst, scale=1 / 255)
        if got.ctypes.data != dst.ctypes.data:  # OpenCV wrote elsewhere: copy it in
            dst[...] = got
    return out


def add_fold(src: np.ndarray, rng: np.random.Generator, strength: float) -> None:
    """A crease across the sheet: a thin dark line with a soft shadow on one side."""
    h, w = src.shape[:2]
    y = rng.uniform(0.25, 0.75) * h
    tilt = rng.normal(0, 0.03) * w
    p0 = (0, int(y - tilt / 2))
    p1 = (w - 1, int(y + tilt / 2))
    shade = int(255 * (1.0 - strength))
    overlay = np.full_like(src[..., :3], 255)
    cv2.line(overlay, p0, p1, (shade,) * 3, 2, cv2.LINE_AA)
    for k, f in enumerate((0.5, 0.3, 0.15)):
        off = 3 + 3 * k
        val = int(255 * (1.0 - strength * f))
        cv2.line(overlay, (p0[0], p0[1] + off), (p1[0], p1[1] + off), (val,) * 3, 4, cv2.LINE_AA)
    ys = slice(max(0, min(p0[1], p1[1]) - 4), min(h, max(p0[1], p1[1]) + 20))
    region = src[ys, :, :3]
    region[...] = cv2.multiply(region, overlay[ys], scale=1 / 255)


def add_streaks(img: np.ndarray, rng: np.random.Generator, strength: tuple[float, float],
                count: int) -> list[int]:
    """Dirty glass: dark vertical lines at fixed image columns. Returns their columns."""
    cols = []
    w = img.shape[1]
    for _ in range(count):
        c = int(rng.integers(int(0.05 * w), int(0.95 * w)))
        width = int(rng.integers(1, 4))
        amount = int(rng.uniform(*strength))
        band = img[:, c : c + width]
        band[...] = cv2.subtract(band, np.full_like(band, amount))
        cols.append(c)
    return cols


def crop_edge(img: np.ndarray, rng: np.random.Generator, mm: float, ppm: float,
              backing: tuple[int, int, int]) -> None:
    """The sheet ran partly outside the scan window: one side loses a strip."""
    px = int(mm * ppm)
    if rng.random() < 0.5:
        img[:, :px] = backing
    else:
        img[:, img.shape[1] - px :] = backing


def paper_box(geo: FeedGeometry, sheet_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Image bounding box (x0, y0, x1, y1) of the sheet's paper, inside the image."""
    h, w = sheet_hw
    c = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64).T
    t = geo.matrix @ c
    xs, trows = t[0] / t[2], t[1] / t[2]
    rows = np.interp(trows, geo.offsets, geo.knots)  # transport row -> image row
    x0, x1 = max(0, int(np.floor(xs.min()))), min(geo.image_w, int(np.ceil(xs.max())))
    y0, y1 = max(0, int(np.floor(rows.min()))), min(geo.image_h, int(np.ceil(rows.max())))
    return x0, y0, x1, y1


def tone(img: np.ndarray, gamma: float, greyscale: bool) -> np.ndarray:
    """The device's tone curve and sensor colour: ``out = in ** gamma``; a greyscale
    sensor delivers luminance in all three channels."""
    if gamma != 1.0:
        lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255)
        img = cv2.LUT(img, lut.astype(np.uint8))
    if greyscale:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return img


def jpeg_roundtrip_rgb(img: np.ndarray, quality: int) -> np.ndarray:
    """An RGB image through a JPEG encoder and decoder, as a scanner that compresses."""
    return jpeg_file_rgb(img, quality)[0]


def jpeg_file_rgb(img: np.ndarray, quality: int) -> tuple[np.ndarray, bytes]:
    """An RGB image as a scanner that compresses delivers it: its JPEG file, and the
    file decoded (returned as ``(pixels, file)``).

    libjpeg-turbo through ``imagecodecs`` takes and gives RGB, so the image needs no
    conversion to OpenCV's BGR and back: the same library and settings (4:2:0, islow
    DCT) give the same bytes and pixels as :func:`jpeg_roundtrip` on the BGR image
    (tested), ~5 ms a side less. Falls back to OpenCV where ``imagecodecs`` is missing."""
    if _codecs is not None and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        data = bytes(_codecs.jpeg8_encode(np.ascontiguousarray(img), level=int(quality)))
        return np.asarray(_codecs.jpeg8_decode(data, out=np.empty_like(img))), data
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if out is None:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB), buf.tobytes()


def _load_codecs() -> Any:
    try:
        return importlib.import_module("imagecodecs")
    except ImportError:  # pragma: no cover - imagecodecs is an install requirement
        return None


_codecs: Any = _load_codecs()


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
    if out is None:
        raise RuntimeError("JPEG round trip failed")
    return out


def write_cache_file(path: Path, data: bytes) -> None:
    """Put a simulator cache file in place whole (a temporary file, then a rename), without
    waiting for the disk: a cache survives a killed process as it is, and a file cut by a
    machine crash fails its reader's checks and is made again. Errors are ignored (the
    cache is an optimisation only)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
