"""Synthetic scanned sheets with ground truth: the simulator's main product.

``SheetFactory(...).sheet(i)`` is a pure function of (factory settings, i):
sheet i is drawn from ``np.random.default_rng([seed, i])``, so the same seed
gives identical images in any order, on any machine with the same libraries.
``iter_sheets`` yields them in memory; ``simulator.writer`` puts them on disk.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.render_raster import render_layout
from election.errors import PcosError
from election.fileio import write_atomically
from election.geometry import px_per_mm
from election.layout import BallotLayout, ballot_layout
from election.model import (
    PARTY_LIST_CONTEST,
    BallotKind,
    Election,
    Language,
    Station,
)
from election.rules import judge_ballot
from simulator import scanner as sc
from simulator.compose import TRACE_WEIGHTS, compose
from simulator.fakes import (
    EXPECTED_REASON,
    Fake,
    fit_to_page,
    other_election,
    photocopy,
    random_document,
    wrong_stripe_layout,
)
from simulator.ink import InkPatch, composite
from simulator.marks import Trace, Variant, VoterStyle
from simulator.print_run import PrintRun, apply_run, draw_run
from simulator.voters import Intent, VoterModel
from vision import png_fast

KINDS = ("party-list", "district", "local", "mixed")  # or a comma list, e.g. "party-list,district"
TRACES_PER_BALLOT = 0.35
BLANK_CACHE_SIZE = 24
PRINTED_CACHE_SIZE = 16  # printed rasters kept per factory: a station's layouts x print runs
RESCAN_STREAM = 0x5CA9  # seeds a re-fed sheet's scanner pass apart from its first
PRINTED_CACHE_VERSION = 2  # bump when the renderer or the print-run model changes its pixels


# The JPEG files (front, back) a compressing scanner delivered, whose decodings are the
# sheet's images; None when it delivered raw pixels.
JpegFiles = tuple[bytes, bytes] | None


@dataclass
class SimSheet:
    front: np.ndarray
    back: np.ndarray
    truth: dict[str, Any]
    jpeg: JpegFiles = None


@dataclass(frozen=True)
class GivenBallot:
    """A ballot whose marks the caller chooses (a test deck), instead of a simulated voter.

    ``contest`` is the layout's contest argument (None for the party list, a
    district number or a council id); ``marks`` are (contest id, option id,
    variant) as in :class:`simulator.voters.Intent`; ``behaviour`` is recorded
    in the truth (a test deck puts its case label there).
    """

    kind: BallotKind
    contest: int | str | None
    language: Language
    marks: tuple[tuple[str, str, Variant], ...]
    style: VoterStyle
    behaviour: str = "given"


@dataclass(frozen=True)
class GivenSheet:
    """Everything about one fed sheet chosen by the caller: see :meth:`SheetFactory.given_sheet`.

    ``ballot`` is the printed ballot (None for a blank sheet or a random
    document); ``fake`` what is wrong with the sheet, if anything; ``second``
    the lower ballot of a double feed. For ``Fake.FOREIGN_CONTEST`` the ballot
    is already the foreign one; for ``Fake.OTHER_ELECTION`` it is printed for
    the annulled election (:func:`simulator.fakes.other_election`).
    """

    ballot: GivenBallot | None
    fake: Fake | None = None
    second: GivenBallot | None = None

    def __post_init__(self) -> None:
        needs_ballot = self.fake not in (Fake.BLANK_SHEET, Fake.RANDOM_DOCUMENT)
        if needs_ballot != (self.ballot is not None):
            raise PcosError(f"a {self.fake or 'genuine'} sheet "
                            f"{'needs' if needs_ballot else 'has no'} ballot")
        if (self.fake is Fake.DOUBLE_FEED) != (self.second is not None):
            raise PcosError("exactly a double feed has a second ballot")


@dataclass
class _Ballot:
    """A printed, marked ballot on the sheet, before the scanner."""

    layout: BallotLayout
    src: np.ndarray  # RGBA uint8, sheet pixels, optics blur and photometry applied
    dark_small: np.ndarray  # quarter-size print darkness (RGBA), for bleed-through
    truth: dict[str, Any]


GHOST_SCALE = 4


def _small_darkness(rgba: np.ndarray) -> np.ndarray:
    h, w = rgba.shape[:2]
    small = cv2.resize(rgba, (w // GHOST_SCALE, h // GHOST_SCALE), interpolation=cv2.INTER_AREA)
    return cv2.subtract(np.full_like(small, 255), small)


def _load_zstd() -> Any:
    """imagecodecs, when it was built with zstd (else the print cache writes PNG)."""
    try:
        codecs = importlib.import_module("imagecodecs")
    except ImportError:  # pragma: no cover - imagecodecs is an install requirement
        return None
    return codecs if getattr(getattr(codecs, "ZSTD", None), "available", False) else None


_zstd = _load_zstd()
RASTER_MAGIC = b"PCOS-RGB8\n"  # then height, width (uint32 LE), then the zstd-packed pixels


def _pack_raster(rgb: np.ndarray) -> bytes | None:
    """A printed raster (RGB uint8) as the cache stores it: exact pixels, zstd level 1
    (~6 ms to write and ~2 ms to read, against ~33 and ~7 ms for PNG; about as small,
    as the sheet is mostly white). None without imagecodecs' zstd: the caller writes PNG."""
    if _zstd is None or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return None
    head = RASTER_MAGIC + np.array(rgb.shape[:2], "<u4").tobytes()
    return head + bytes(_zstd.zstd_encode(np.ascontiguousarray(rgb).tobytes(), level=1))


def _unpack_raster(data: bytes) -> np.ndarray | None:
    """The pixels :func:`_pack_raster` stored, or None when the file is not whole."""
    n = len(RASTER_MAGIC)
    if _zstd is None or not data.startswith(RASTER_MAGIC) or len(data) < n + 8:
        return None
    h, w = (int(v) for v in np.frombuffer(data[n : n + 8], "<u4"))
    try:
        raw = _zstd.zstd_decode(data[n + 8 :])
    except Exception:  # imagecodecs raises its own error types (a cut or bad file)
        return None
    if len(raw) != h * w * 3:
        return None
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)  # read-only, as printed() keeps it


SMALL_MAGIC = b"PCOS-U8HWC\n"  # then height, width, channels (uint32 LE), then zstd pixels


def _pack_small(img: np.ndarray) -> bytes | None:
    """A small uint8 image (H, W, C) as the cache keeps it, exactly; None without zstd."""
    if _zstd is None or img.ndim != 3 or img.dtype != np.uint8:
        return None
    head = SMALL_MAGIC + np.array(img.shape, "<u4").tobytes()
    return head + bytes(_zstd.zstd_encode(np.ascontiguousarray(img).tobytes(), level=1))


def _read_small(path: Path) -> np.ndarray | None:
    """The image :func:`_pack_small` kept at ``path`` (writable, a fresh array), or None
    when there is none or it is not whole."""
    n = len(SMALL_MAGIC)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if _zstd is None or not data.startswith(SMALL_MAGIC) or len(data) < n + 12:
        return None
    h, w, c = (int(v) for v in np.frombuffer(data[n : n + 12], "<u4"))
    try:
        raw = _zstd.zstd_decode(data[n + 12 :])
    except Exception:  # imagecodecs raises its own error types (a cut or bad file)
        return None
    if len(raw) != h * w * c:
        return None
    return np.frombuffer(bytearray(raw), np.uint8).reshape(h, w, c)


def _read_png(path: Path) -> np.ndarray | None:
    """A cached printed raster (RGB), or None when it is missing or unreadable (the packed
    form of :func:`_pack_raster`, else PNG)."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if not data.size:
        return None
    raw = data.tobytes()
    if raw.startswith(RASTER_MAGIC):
        return _unpack_raster(raw)
    try:
        fast = png_fast.decode_png(raw)  # the files encode_png wrote
    except png_fast.PngDataError:
        return None
    if fast is not None:
        return fast[0]
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def default_station(election: Election) -> Station:
    """The first station voting on all three kinds (else the first in the country)."""
    for s in election.stations:
        if s.council is not None and s.district is not None:
            return s
    for s in election.stations:
        if not s.abroad:
            return s
    return election.stations[0]


@dataclass
class SheetFactory:
    election: Election
    station: Station
    params: sc.ScannerParams
    seed: int = 0
    kind: str = "mixed"
    fake_rate: float = 0.0
    voters: VoterModel = field(default_factory=VoterModel)
    _blanks: OrderedDict[tuple[str, float, float, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=OrderedDict, repr=False)
    _printed: OrderedDict[tuple[str, int], np.ndarray] = field(default_factory=OrderedDict,
                                                                repr=False)
    _layouts: dict[tuple[Any, ...], BallotLayout] = field(default_factory=dict, repr=False)
    # Where printed rasters are kept on disk (lossless PNG), shared by every process that
    # renders from the same print runs (a station's devices, and each device again after a
    # power cut). None: in memory only.
    print_cache_dir: Path | None = None
    _noise: sc.NoiseBank | None = field(default=None, repr=False)
    _other: Election | None = field(default=None, repr=False)
    # bleed-through ghosts of the cached blanks' darkness, by the darkness array's id (the
    # entry holds that array, so the id cannot be reused while the entry lives)
    _ghosts: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        wanted = self.kind.split(",")
        if not all(k in KINDS[:3] for k in wanted) and self.kind != "mixed":
            raise PcosError(f"unknown kind {self.kind!r}; use one of {', '.join(KINDS)} "
                            "or a comma list of kinds")
        self._kinds()  # raises when the station votes on none of the kinds asked for
        if not 0.0 <= self.fake_rate <= 1.0:
            raise PcosError("--fakes must be a rate between 0 and 1")
        self._noise = sc.NoiseBank(self.params.noise_sigma, seed=self.seed)
        self.ppm = px_per_mm(self.params.dpi)
        p = self.params
        # The print runs this deck's ballots come from, fixed by the seed.
        self.print_runs: tuple[PrintRun, ...] = tuple(
            draw_run(np.random.default_rng([self.seed, 0x9121, k]), p.dot_gain_px, p.toner,
                     p.print_offset_mm, p.print_scale, p.misregistration_mm)
            if p.print_varies else PrintRun()
            for k in range(max(1, p.print_runs)))

    # ------------------------------------------------------------------ caches
    def layout(self, kind: BallotKind, contest: int | str | None, lang: Language,
               election: Election | None = None) -> BallotLayout:
        e = election or self.election
        key = (e.election_id, kind, contest, lang)
        if key not in self._layouts:
            self._layouts[key] = ballot_layout(e, kind, contest, lang)
        return self._layouts[key]

    def blank(self, layout: BallotLayout, blur: float, fade: float,
              run: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The printed blank ballot (RGBA, optics-blurred) and its quarter-size print darkness.

        Cached per layout, print run and effect level: rendering costs more than scanning.
        """
        key = (layout.layout_hash, blur, fade, run)
        if key in self._blanks:
            self._blanks.move_to_end(key)
            return self._blanks[key]
        rgb = self.printed(layout, run)
        if fade < 1.0:
            rgb = cv2.addWeighted(rgb, fade, np.full_like(rgb, 255), 1.0 - fade, 0.0)
        if blur > 0:
            rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
        rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
        # The darkness costs 3x the blur (an area resize by a non-integer factor): one
        # process computes it, the others read it (when the print cache is on disk).
        dark_path = self._dark_path(layout, run, blur, fade)
        dark_small = _read_small(dark_path) if dark_path is not None else None
        if dark_small is None:
            dark_small = _small_darkness(rgba)
            data = _pack_small(dark_small) if dark_path is not None else None
            if dark_path is not None and data is not None:
                sc.write_cache_file(dark_path, data)
        dark_small.setflags(write=False)  # shared by the sheets of this blank (and its ghost)
        entry = (rgba, dark_small)
        self._blanks[key] = entry
        if len(self._blanks) > BLANK_CACHE_SIZE:
            self._blanks.popitem(last=False)
        return entry

    def printed(self, layout: BallotLayout, run: int = 0) -> np.ndarray:
        """The blank ballot as print run ``run`` put it on paper (RGB uint8, sheet px), before
        optics and fading: the expensive part of a blank (rendering the layout, then the
        run's dot gain, toner, misregistration and placement, ~0.6 s), and the same for
        every sheet of the run. Cached in memory, and under ``print_cache_dir`` when set.
        The returned array is shared: callers must not write to it."""
        key = (layout.layout_hash, run)
        if key in self._printed:
            self._printed.move_to_end(key)
            return self._printed[key]
        path = self._printed_path(layout, run)
        rgb = _read_png(path) if path is not None else None
        if rgb is None:
            rgb = apply_run(render_layout(layout, self.params.dpi), self.print_runs[run],
                            self.ppm)
            if path is not None:
                data = _pack_raster(rgb)
                if data is None:
                    data = png_fast.encode_png(rgb)
                if data is None:
                    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                           [cv2.IMWRITE_PNG_COMPRESSION, 1])
                    data = buf.tobytes() if ok else None
                if data is not None:
                    write_atomically(path, data)
        rgb.setflags(write=False)
        self._printed[key] = rgb
        if len(self._printed) > PRINTED_CACHE_SIZE:
            self._printed.popitem(last=False)
        return rgb

    def share_noise(self, other: SheetFactory) -> None:
        """Use ``other``'s sensor-noise tile when it is drawn from the same seed and sigma
        (the tiles are then identical; drawing one costs ~0.3 s)."""
        if (other._noise is not None and self._noise is not None
                and (other._noise.seed, other._noise.sigma, other._noise.tile_hw)
                == (self._noise.seed, self._noise.sigma, self._noise.tile_hw)):
            self._noise = other._noise

    def keep_noise(self, directory: Path | None) -> None:
        """Keep this factory's sensor-noise tile under ``directory`` (shared by every process
        rendering with the same seed: drawn by the first, read by the others)."""
        assert self._noise is not None
        self._noise.cache_dir = directory

    def prepare_noise(self) -> None:
        """Draw (or read) the sensor-noise tile now rather than at the first image."""
        assert self._noise is not None
        self._noise.prepare()

    def print_jobs(self) -> list[tuple[BallotLayout, int]]:
        """Every (layout, print run) this factory's genuine sheets can come from: each kind
        it makes, in each language the station has ballots of, from each run."""
        jobs = []
        for kind, contest in self._kinds():
            langs = [b.language for b in self.station.ballots if b.kind is kind and b.count]
            for lang in sorted(set(langs) or set(Language), key=lambda x: x.value):
                layout = self.layout(kind, contest, lang)
                jobs += [(layout, k) for k in range(len(self.print_runs))]
        return jobs

    def _dark_path(self, layout: BallotLayout, run: int, blur: float,
                   fade: float) -> Path | None:
        """The disk cache file of a blank's quarter-size darkness (see :meth:`blank`)."""
        printed = self._printed_path(layout, run)
        if printed is None:
            return None
        ident = repr((printed.name, float(blur), float(fade), GHOST_SCALE))
        digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]
        return printed.with_name(f"dark-{digest}.u8")

    def _printed_path(self, layout: BallotLayout, run: int) -> Path | None:
        """The disk cache file of a printed raster: named by everything its pixels depend on
        (layout, resolution, the run's parameters to full precision, the cache version)."""
        if self.print_cache_dir is None:
            return None
        ident = repr((PRINTED_CACHE_VERSION, layout.layout_hash, float(self.params.dpi),
                      self.print_runs[run]))
        digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]
        return self.print_cache_dir / f"printed-{digest}.rgb"

    # ------------------------------------------------------------------ choices
    def _kinds(self) -> list[tuple[BallotKind, int | str | None]]:
        s = self.station
        pool: list[tuple[BallotKind, int | str | None]] = [(BallotKind.PARTY_LIST, None)]
        if s.district is not None:
            pool.append((BallotKind.DISTRICT, s.district))
        if s.council is not None:
            pool.append((BallotKind.LOCAL, s.council))
        if self.kind == "mixed":
            return pool
        wanted = {BallotKind(k) for k in self.kind.split(",")}
        chosen = [k for k in pool if k[0] in wanted]
        if not chosen:
            raise PcosError(f"station {s.number} votes on none of: {self.kind}")
        return chosen

    def _language(self, rng: np.random.Generator, kind: BallotKind) -> Language:
        counts = {b.language: b.count for b in self.station.ballots if b.kind is kind}
        total = sum(counts.values())
        if total == 0:
            return Language.KY if rng.random() < 0.5 else Language.RU
        return Language.KY if rng.random() < counts.get(Language.KY, 0) / total else Language.RU

    # ------------------------------------------------------------------ ballots
    def _marked_ballot(self, rng: np.random.Generator, layout: BallotLayout,
                       election: Election, p: sc.ScannerParams,
                       given: GivenBallot | None = None) -> _Ballot:
        traces: list[Trace] = []
        if given is not None:  # a test deck's ballot: the caller's marks and style, no traces
            style = given.style
            intent = Intent(given.marks, given.behaviour)
        else:
            style = VoterStyle.random(rng)
            if layout.kind is BallotKind.PARTY_LIST:
                intent = self.voters.party_list_intent(rng, election.party_list)
            else:
                intent = self.voters.candidate_intent(rng, election.contest(layout.contest))
            traces = [Trace.WRITING] if intent.behaviour == "writing-instead" else []
            names = list(TRACE_WEIGHTS)
            w = np.array([TRACE_WEIGHTS[t] for t in names])
            for _ in range(int(rng.poisson(TRACES_PER_BALLOT))):
                traces.append(names[int(rng.choice(len(names), p=w / w.sum()))])
        for _attempt in range(4):
            try:
                marked = compose(rng, layout, intent.marks, style, tuple(traces), self.ppm)
                break
            except RuntimeError:  # this voter's marks collided: the voter tries again
                if given is None:
                    style = VoterStyle.random(rng)
        else:
            raise RuntimeError(f"could not mark a {layout.kind.value} ballot")
        selections: dict[str, set[str]] = {}
        for contest, option, _variant in intent.marks:
            selections.setdefault(contest, set()).add(option)
        contest_id = None if layout.kind is BallotKind.PARTY_LIST else layout.contest
        expected = judge_ballot(election, layout.kind, contest_id or PARTY_LIST_CONTEST,
                                {k: frozenset(v) for k, v in selections.items()})
        blur = float(p.blur_px[int(rng.integers(len(p.blur_px)))])
        fade = 1.0
        if rng.random() < p.faded_probability:
            # Toner fades per print batch: three levels across the range (and the blank
            # ballot is cached per level, so a run re-renders at most a few times).
            fade = round(float(np.linspace(*p.faded, 3)[int(rng.integers(3))]), 3)
        run_k = int(rng.integers(len(self.print_runs))) if len(self.print_runs) > 1 else 0
        run = self.print_runs[run_k]
        blank, dark_small = self.blank(layout, blur, fade, run_k)
        src = sc.apply_gain(blank, sc.gain_rows(rng, p, (round(layout.paper_h_mm * self.ppm),
                                                          round(layout.paper_w_mm * self.ppm))))
        for patch in marked.ink.patches:
            if not run.identity:  # the voter marks the box where it was printed
                y0, x0 = run.place(patch.y0, patch.x0, src.shape[:2], self.ppm)
                patch = InkPatch(y0, x0, patch.alpha, patch.rgb)
            composite(src, patch, blur)
        if rng.random() < p.fold_probability:
            sc.add_fold(src, rng, float(rng.uniform(*p.fold_strength)))
        truth = {
            "kind": layout.kind.value,
            "district": layout.contest_number if layout.kind is BallotKind.DISTRICT else None,
            "contest": layout.contest,
            "language": layout.language.value,
            "behaviour": intent.behaviour,
            "style": {"instrument": style.instrument.name, "shape": style.shape.value},
            "traces": [t.value for t in marked.traces],
            "targets": [t.to_json() for t in marked.truth],
            "expected": expected.to_json(),
            "effects": {"blur_px": blur, "fade": fade,
                        **({"print": run.to_json()} if not run.identity else {})},
        }
        return _Ballot(layout, src, dark_small, truth)

    # ------------------------------------------------------------------ scanning
    def _finish(self, rng: np.random.Generator, img: np.ndarray, p: sc.ScannerParams,
                effects: dict[str, Any], side: str, jpeg_q: int | None
                ) -> tuple[np.ndarray, bytes | None]:
        """Camera-side effects on an RGB image: streaks, cropping, noise, JPEG (then the
        image is the decoding of the JPEG file, returned beside it)."""
        if rng.random() < p.streak_probability:
            effects.setdefault("streaks", {})[side] = sc.add_streaks(
                img, rng, p.streak_strength, int(rng.integers(1, 3)))
        if rng.random() < p.crop_probability:
            sc.crop_edge(img, rng, float(rng.uniform(*p.crop_mm)), self.ppm, p.backing_rgb)
            effects.setdefault("cropped", []).append(side)
        assert self._noise is not None
        self._noise.apply(img, rng)
        gamma = float(rng.uniform(*p.gamma)) if p.gamma[0] != p.gamma[1] else p.gamma[0]
        if gamma != 1.0 or p.greyscale:
            img = sc.tone(img, gamma, p.greyscale)
            effects["gamma"] = round(gamma, 3)
        if jpeg_q is None:
            return img, None
        return sc.jpeg_file_rgb(img, jpeg_q)

    def _jpeg(self, rng: np.random.Generator, p: sc.ScannerParams,
              effects: dict[str, Any]) -> int | None:
        """Whether this scanner compresses this sheet's images, and at what quality."""
        if rng.random() >= p.jpeg_probability:
            return None
        q = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
        effects["jpeg_quality"] = q
        return q

    def _other_side(self, rng: np.random.Generator, dark_small: np.ndarray,
                    geo: sc.FeedGeometry, p: sc.ScannerParams) -> np.ndarray:
        """The unprinted side: paper under the other camera's lamp, with the print showing
        through faintly and mirrored (the other camera looks at the sheet from below).

        Built at quarter resolution (bleed-through has no fine detail) and scaled up.
        """
        h, w = dark_small.shape[:2]
        k = float(rng.uniform(*p.bleed_through))
        ghost = self._ghost(dark_small)
        paper = sc.gain_field(rng, p, (h, w))
        sheet = cv2.addWeighted(paper, 1.0, ghost, -k, 0.0)
        sheet[..., 3] = 255
        hs, ws = geo.image_h // GHOST_SCALE, geo.image_w // GHOST_SCALE
        small_geo = geo.scaled(1.0 / GHOST_SCALE, (hs, ws))
        img = cv2.cvtColor(sc.warp_sheet(sheet, small_geo, (*p.backing_rgb, 0)),
                           cv2.COLOR_RGBA2RGB)
        return cv2.resize(cv2.flip(img, 1), (geo.image_w, geo.image_h),
                          interpolation=cv2.INTER_LINEAR)

    def _ghost(self, dark_small: np.ndarray) -> np.ndarray:
        """The print showing through the paper: the darkness, blurred. The same for every
        sheet of a cached blank (its darkness is read-only), so kept beside it."""
        if dark_small.flags.writeable:  # a one-off sheet's darkness (a fake, a double feed)
            return cv2.GaussianBlur(dark_small, (0, 0), 1.2)
        key = id(dark_small)
        hit = self._ghosts.get(key)
        if hit is not None and hit[0] is dark_small:
            self._ghosts.move_to_end(key)
            return hit[1]
        ghost = cv2.GaussianBlur(dark_small, (0, 0), 1.2)
        ghost.setflags(write=False)
        self._ghosts[key] = (dark_small, ghost)
        if len(self._ghosts) > BLANK_CACHE_SIZE:
            self._ghosts.popitem(last=False)
        return ghost

    def _scan(self, rng: np.random.Generator, src: np.ndarray, dark_small: np.ndarray,
              p: sc.ScannerParams, effects: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray, sc.Orientation, JpegFiles]:
        orient = sc.ORIENTATIONS[int(rng.integers(len(sc.ORIENTATIONS)))]
        geo = sc.draw_geometry(rng, p, src.shape[:2], orient.rotated)
        printed = cv2.cvtColor(sc.warp_sheet(src, geo, (*p.backing_rgb, 0)),
                               cv2.COLOR_RGBA2RGB)
        other = self._other_side(rng, dark_small, geo, p)
        if p.cropped:
            x0, y0, x1, y1 = sc.paper_box(geo, src.shape[:2])
            printed = np.ascontiguousarray(printed[y0:y1, x0:x1])
            other = np.ascontiguousarray(other[y0:y1, x0:x1])
        q = self._jpeg(rng, p, effects)
        b_side = "back" if orient.side is sc.Side.FRONT else "front"
        return duplex_sides(self._finish(rng, printed, p, effects, orient.side.value, q),
                            self._finish(rng, other, p, effects, b_side, q), orient)

    def _scan_double(self, rng: np.random.Generator, top: np.ndarray, bottom: np.ndarray,
                     p: sc.ScannerParams, effects: dict[str, Any]
                     ) -> tuple[np.ndarray, np.ndarray, JpegFiles]:
        """Two sheets fed together, the lower one trailing the upper along the feed.

        The lower sheet's tail always shows past the upper one's (a sheet wholly
        hidden under a longer one cannot be seen in the images; the device's
        ultrasonic double-feed sensor catches those).
        """
        h_a, h_b = top.shape[0], bottom.shape[0]
        lo = max(12 * self.ppm, h_a - h_b + 12 * self.ppm)  # the tail shows >= 12 mm
        hi = max(lo, h_a - 10 * self.ppm)  # and the head is under the upper sheet
        lag = int(rng.uniform(lo, hi))  # leading edge of the lower sheet behind the upper's
        effects["double_feed_offset_mm"] = round(lag / self.ppm, 1)
        rotated = bool(rng.random() < 0.5)
        sticks_out = lag - (h_a - h_b)
        geo_a = sc.draw_geometry(rng, p, top.shape[:2], rotated, extra_len_px=int(sticks_out))
        # The lower sheet in the upper one's frame: fed the same way, ``lag`` behind. Head
        # first, its top is ``lag`` below the upper's top; tail first, its bottom is ``lag``
        # above the upper's bottom (the upper sheet's bottom leads).
        shift = lag if not rotated else h_a - h_b - lag
        m_b = geo_a.matrix @ np.array([[1, 0, 0], [0, 1, shift], [0, 0, 1]], np.float64)
        geo_b = sc.FeedGeometry(m_b, geo_a.knots, geo_a.offsets, geo_a.image_h, geo_a.image_w)
        border = (*p.backing_rgb, 0)
        a = sc.warp_sheet(top, geo_a, border)
        b = sc.warp_sheet(bottom, geo_b, border)
        mask = a[..., 3:4] > 127
        front = np.ascontiguousarray(np.where(mask, a, b)[..., :3])
        back_top = self._other_side(rng, _small_darkness(top), geo_a, p)
        if p.cropped:  # the page the scanner saw is both sheets together
            ba, bb = sc.paper_box(geo_a, top.shape[:2]), sc.paper_box(geo_b, bottom.shape[:2])
            x0, y0 = min(ba[0], bb[0]), min(ba[1], bb[1])
            x1, y1 = max(ba[2], bb[2]), max(ba[3], bb[3])
            front = np.ascontiguousarray(front[y0:y1, x0:x1])
            back_top = np.ascontiguousarray(back_top[y0:y1, x0:x1])
        q = self._jpeg(rng, p, effects)
        (front, front_file), (back, back_file) = (
            self._finish(rng, front, p, effects, "front", q),
            self._finish(rng, back_top, p, effects, "back", q))
        return front, back, _jpeg_pair(front_file, back_file)

    # ------------------------------------------------------------------ sheets
    def sheet(self, index: int, rescan: int = 0) -> SimSheet:
        """Sheet ``index``: a pure function of the settings and ``index``.

        ``rescan`` > 0 is the same paper fed again (a voter re-feeding a returned
        sheet): the same ballot, print and marks, but a new pass through the scanner
        (orientation, feed geometry, the unprinted side, sensor noise and compression
        drawn afresh from ``[seed, index, RESCAN_STREAM, rescan]``), as a real scanner never
        sees the same sheet twice alike. ``rescan`` 0 is the sheet as it always was."""
        rng = np.random.default_rng([self.seed, index])
        fake: Fake | None = None
        if rng.random() < self.fake_rate:
            fake = list(Fake)[int(rng.integers(len(Fake)))]
        kind, contest = self._kinds()[int(rng.integers(len(self._kinds())))]
        lang = self._language(rng, kind)
        return self._build(rng, index, fake, kind, contest, lang, None, rescan)

    def given_sheet(self, index: int, spec: GivenSheet, rescan: int = 0) -> SimSheet:
        """Sheet ``index`` with the ballot, marks and fake chosen by ``spec`` (a test deck,
        or the DEC's replacement for a spoiled ballot).

        Everything else (the ink of each mark, the scanner's degradations) is
        drawn as for :meth:`sheet`, from ``np.random.default_rng([seed, index])``,
        so it is a pure function of the settings, ``index`` and ``spec``; ``rescan``
        is a re-feed of the same paper, as for :meth:`sheet`.
        """
        rng = np.random.default_rng([self.seed, index])
        b = spec.ballot
        if b is None:
            return self._build(rng, index, spec.fake, BallotKind.PARTY_LIST, None, Language.KY,
                               spec, rescan)
        return self._build(rng, index, spec.fake, b.kind, b.contest, b.language, spec, rescan)

    def _build(self, rng: np.random.Generator, index: int, fake: Fake | None,
               kind: BallotKind, contest: int | str | None, lang: Language,
               spec: GivenSheet | None, rescan: int = 0) -> SimSheet:
        p = self.params

        def scan_rng() -> np.random.Generator:
            """The scanner pass's draws: the sheet's own stream on its first feed, a
            stream of its own for each re-feed (see :meth:`sheet`)."""
            if rescan <= 0:
                return rng
            return np.random.default_rng([self.seed, index, RESCAN_STREAM, rescan])

        effects: dict[str, Any] = {}
        truth: dict[str, Any] = {"sheet": index, "genuine": fake is None,
                                 "fake": fake.value if fake else None,
                                 "expected_reason": EXPECTED_REASON[fake].value if fake else None}
        if fake in (None, Fake.PHOTOCOPY, Fake.FIT_TO_PAGE, Fake.WRONG_STRIPE,
                    Fake.FOREIGN_CONTEST, Fake.OTHER_ELECTION):
            election = self.election
            if fake is Fake.OTHER_ELECTION:
                if self._other is None:
                    self._other = other_election(self.election)
                election = self._other
            if fake is Fake.FOREIGN_CONTEST and spec is None:
                kind, contest = self._foreign(rng)
            layout = self.layout(kind, contest, lang, election)
            if fake is Fake.WRONG_STRIPE:
                layout = wrong_stripe_layout(layout)
            ballot = self._marked_ballot(rng, layout, election, p,
                                         spec.ballot if spec is not None else None)
            src = ballot.src
            if fake is Fake.PHOTOCOPY:
                src = self._reprint(rng, photocopy(cv2.cvtColor(src, cv2.COLOR_RGBA2RGB), rng), p)
            elif fake is Fake.FIT_TO_PAGE:
                src = cv2.cvtColor(fit_to_page(cv2.cvtColor(src, cv2.COLOR_RGBA2RGB), rng),
                                   cv2.COLOR_RGB2RGBA)
            dark_small = ballot.dark_small if src is ballot.src else _small_darkness(src)
            truth.update(ballot.truth)
            front, back, orient, jpeg = self._scan(scan_rng(), src, dark_small, p, effects)
            truth["orientation"] = orient.label
        elif fake is Fake.DOUBLE_FEED:
            second = spec.second if spec is not None else None
            lang_b = second.language if second is not None else self._language(rng, kind)
            a = self._marked_ballot(rng, self.layout(kind, contest, lang), self.election, p,
                                    spec.ballot if spec is not None else None)
            if second is not None:
                kb, cb = second.kind, second.contest
            else:
                kb, cb = self._kinds()[int(rng.integers(len(self._kinds())))]
            b = self._marked_ballot(rng, self.layout(kb, cb, lang_b), self.election, p, second)
            front, back, jpeg = self._scan_double(scan_rng(), a.src, b.src, p, effects)
            truth.update({"kind": None, "district": None, "contest": None, "targets": [],
                          "expected": None, "orientation": None})
        else:
            hw = (round(297.0 * self.ppm), round(210.0 * self.ppm))
            page = (np.full((*hw, 3), 255, np.uint8) if fake is Fake.BLANK_SHEET
                    else random_document(rng, hw, self.ppm))
            src = self._reprint(rng, page, p)
            front, back, orient, jpeg = self._scan(scan_rng(), src, _small_darkness(src), p,
                                                   effects)
            truth.update({"kind": None, "district": None, "contest": None, "targets": [],
                          "expected": None, "orientation": orient.label})
        truth.setdefault("effects", {}).update(effects)
        return SimSheet(front, back, truth, jpeg)

    def _reprint(self, rng: np.random.Generator, rgb: np.ndarray,
                 p: sc.ScannerParams) -> np.ndarray:
        """Put non-ballot content on paper: optics blur and photometry, as for a ballot."""
        blur = float(p.blur_px[int(rng.integers(len(p.blur_px)))])
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
        rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
        return sc.apply_gain(rgba, sc.gain_rows(rng, p, rgba.shape[:2]))

    def _foreign(self, rng: np.random.Generator) -> tuple[BallotKind, int | str | None]:
        """A genuine ballot of another district (or council) than this station's."""
        e, s = self.election, self.station
        if s.council is not None and rng.random() < 0.3 and len(e.councils) > 1:
            others = [c for c in e.councils if c.id != f"council-{s.council}"
                      and c.id != s.council]
            return BallotKind.LOCAL, others[int(rng.integers(len(others)))].number
        others_d = [d.number for d in e.districts if d.number != s.district]
        return BallotKind.DISTRICT, others_d[int(rng.integers(len(others_d)))]

    def __iter__(self) -> Iterator[SimSheet]:
        i = 0
        while True:
            yield self.sheet(i)
            i += 1


def _jpeg_pair(front: bytes | None, back: bytes | None) -> JpegFiles:
    return None if front is None or back is None else (front, back)


def duplex_sides(seen: tuple[np.ndarray, bytes | None], other: tuple[np.ndarray, bytes | None],
                 orient: sc.Orientation
                 ) -> tuple[np.ndarray, np.ndarray, sc.Orientation, JpegFiles]:
    """(front, back, orient, JPEG files) from the finished side the camera facing the
    print saw (``seen``) and the other one: ``orient`` says which of them is the front."""
    a, b = (seen, other) if orient.side is sc.Side.FRONT else (other, seen)
    return a[0], b[0], orient, _jpeg_pair(a[1], b[1])


def iter_sheets(factory: SheetFactory, count: int, start: int = 0) -> Iterator[SimSheet]:
    for i in range(start, start + count):
        yield factory.sheet(i)
