"""Write simulated sheets to a directory, with their ground truth and settings.

A sheet directory holds, for ``count`` sheets numbered from 0:

* ``NNNNNN-front.png`` and ``NNNNNN-back.png`` (6-digit index): the two images
  of the duplex scanner, RGB, exactly the arrays the factory made (PNG and
  TIFF are lossless; ``jpg`` is offered for size and is lossy);
* ``truth.jsonl``: one JSON object per line, in sheet order, exactly the
  factory's truth dict for that sheet;
* ``manifest.json``: every setting needed to make the directory again (seed,
  preset and its parameters, count, kind, station, fake rate, election
  identity, package version), and whether the run completed.

Everything is a pure function of the settings: the same settings give the
same bytes (no timestamps, no host names, PNG without time chunks).

Crash behaviour: every image is written to a temporary name and renamed, and a
sheet's truth line is written only after both its images are in place, so a
line in ``truth.jsonl`` always describes complete files. ``truth.jsonl`` is
itself built under a temporary name and renamed at the end; if the run stops
early (an error or Ctrl-C) the lines of the finished sheets are still renamed
into place and ``manifest.json`` says ``"complete": false``.

Images are encoded with ``cv2.imencode`` (RGB swapped to BGR first) and written
by this module, so that each file can be renamed into place and a failed write
is an error rather than ``imwrite``'s silent ``False``.

Speed: PNG encoding costs more than making the sheet: about 90 ms per
1732x2400 image at zlib level 1 with the ``up`` filter (OpenCV's default level
takes ~220 ms for 4 % smaller files; scanner noise does not compress), so
images are encoded on a small thread pool while the next sheet is made;
OpenCV releases the GIL while it encodes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from election.errors import PcosError
from election.fileio import write_atomically
from election.hashing import definition_hash, election_hash
from simulator.sheets import SheetFactory, SimSheet

TRUTH_FILE = "truth.jsonl"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
WRITE_THREADS = 2
MAX_SHEETS_IN_FLIGHT = 3  # sheets made but not yet on disk (each ~25 MB of pixels)
_SHEET_FILE = re.compile(r"^(\d{6,})-(?:front|back)\.(png|tiff|jpg)$")


class ImageFormat(StrEnum):
    """File format of the sheet images (the value is also the file extension)."""

    PNG = "png"
    TIFF = "tiff"
    JPG = "jpg"


# Encoder options: fast and byte-deterministic. PNG level 1 with the "up" filter
# is ~1.6x faster than OpenCV's default and ~3 % larger; TIFF is LZW with the
# horizontal predictor; JPEG keeps full chroma so the stripe colour survives.
_ENCODE_PARAMS: dict[ImageFormat, list[int]] = {
    ImageFormat.PNG: [cv2.IMWRITE_PNG_COMPRESSION, 1,
                      cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP],
    ImageFormat.TIFF: [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_LZW,
                       cv2.IMWRITE_TIFF_PREDICTOR, cv2.IMWRITE_TIFF_PREDICTOR_HORIZONTAL],
    ImageFormat.JPG: [cv2.IMWRITE_JPEG_QUALITY, 95,
                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
}


def image_format(name: str) -> ImageFormat:
    """Parse a format name (``png``, ``tiff``, ``jpg``); PcosError for anything else."""
    try:
        return ImageFormat(name.lower())
    except ValueError:
        known = ", ".join(f.value for f in ImageFormat)
        raise PcosError(f"unknown image format {name!r}; use one of {known}") from None


def sheet_paths(out_dir: Path, index: int, fmt: ImageFormat = ImageFormat.PNG) -> tuple[Path,
                                                                                         Path]:
    """The front and back image paths of sheet ``index``."""
    stem = f"{index:06d}"
    return out_dir / f"{stem}-front.{fmt.value}", out_dir / f"{stem}-back.{fmt.value}"


# --------------------------------------------------------------------------- file helpers


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (see :func:`election.fileio.write_atomically`)."""
    write_atomically(path, data)


def encode_image(rgb: np.ndarray, fmt: ImageFormat = ImageFormat.PNG,
                 dpi: float | None = None) -> bytes:
    """Encode an RGB uint8 image (OpenCV wants BGR, so the channels are swapped first),
    stating the scan's DPI in PNG and JPEG files as a scanner does."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = list(_ENCODE_PARAMS[fmt])
    if dpi is not None and fmt is ImageFormat.TIFF:
        d = round(dpi)
        params += [cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, d,
                   cv2.IMWRITE_TIFF_YDPI, d]
    ok, buf = cv2.imencode(f".{fmt.value}", bgr, params)
    if not ok:
        raise PcosError(f"OpenCV could not encode a {fmt.value} image")
    from vision.imageio import stamp_dpi

    return stamp_dpi(buf.tobytes(), f".{fmt.value}", dpi)


def write_image(path: Path, rgb: np.ndarray, fmt: ImageFormat = ImageFormat.PNG,
                dpi: float | None = None) -> None:
    write_file_atomically(path, encode_image(rgb, fmt, dpi))


def _json_value(value: Any) -> Any:
    """``json.dumps`` fallback: NumPy scalars and arrays become plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def truth_line(truth: Mapping[str, Any]) -> str:
    """One ``truth.jsonl`` line (compact, UTF-8 text, key order as the factory made it)."""
    return json.dumps(truth, ensure_ascii=False, separators=(",", ":"),
                      default=_json_value) + "\n"


def read_truth(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The truth objects of a sheet directory, in sheet order.

    A missing file or a bad line raises :class:`PcosError` naming the file and line.
    """
    path = Path(out_dir) / TRUTH_FILE
    if not path.is_file():
        raise PcosError(f"{path}: no ground truth here")
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                obj["sheet"]
            except (ValueError, KeyError, TypeError) as exc:
                raise PcosError(f"{path}:{n}: bad truth line ({exc})") from exc
            out.append(obj)
    return out


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(out_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
    return doc


# --------------------------------------------------------------------------- manifest


def package_version() -> str:
    try:
        return metadata.version("pcos-kg")
    except metadata.PackageNotFoundError:
        return "unknown"


def manifest(factory: SheetFactory, count: int, fmt: ImageFormat,
             preset_name: str | None) -> dict[str, Any]:
    """The settings that made a directory (everything but completion status)."""
    e = factory.election
    return {
        "format": MANIFEST_FORMAT,
        "generator": "pcos sim sheets",
        "package_version": package_version(),
        "seed": factory.seed,
        "preset": preset_name,
        "scanner": asdict(factory.params),
        "voters": asdict(factory.voters),
        "count": count,
        "kind": factory.kind,
        "station": factory.station.number,
        "fakes": factory.fake_rate,
        "image_format": fmt.value,
        "files": {"front": f"NNNNNN-front.{fmt.value}", "back": f"NNNNNN-back.{fmt.value}",
                  "truth": TRUTH_FILE},
        "election": {"id": e.election_id, "election_hash": election_hash(e),
                     "definition_hash": definition_hash(e)},
    }


def _manifest_bytes(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False,
                       default=_json_value) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class WriteSummary:
    out_dir: Path
    sheets: int
    genuine: int
    fakes: int
    seconds: float
    complete: bool

    def line(self) -> str:
        return (f"{self.sheets} sheets ({self.genuine} genuine, {self.fakes} fakes) "
                f"in {self.seconds:.1f} s")


def prepare_dir(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and check that files can be made in it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PcosError(f"cannot write to {out_dir}: it exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PcosError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PcosError(f"cannot write to {out_dir}: permission denied")


def _remove_stale(out_dir: Path, count: int, fmt: ImageFormat) -> int:
    """Delete sheet images of an earlier run (only names this writer makes) that this
    run will not overwrite: other formats, or indices at or beyond ``count``."""
    removed = 0
    for entry in os.scandir(out_dir):
        m = _SHEET_FILE.match(entry.name)
        if m and (int(m.group(1)) >= count or m.group(2) != fmt.value) and entry.is_file():
            os.unlink(entry.path)
            removed += 1
    return removed


def write_sheets(factory: SheetFactory, count: int, out_dir: str | os.PathLike[str],
                 fmt: ImageFormat = ImageFormat.PNG, preset_name: str | None = None,
                 progress: Callable[[int], None] | None = None,
                 make: Callable[[int], SimSheet] | None = None,
                 manifest_extra: Mapping[str, Any] | None = None) -> WriteSummary:
    """Make sheets ``0..count-1`` with ``factory`` and write them to ``out_dir``.

    Sheet images of an earlier run in the same directory that are not part of
    this one are deleted, so the directory always matches its ``truth.jsonl``.
    ``progress`` (if given) is called with the number of sheets on disk.
    ``make`` replaces ``factory.sheet`` (a test deck passes its
    ``factory.given_sheet``); ``manifest_extra`` is merged into the manifest.
    """
    if count < 0:
        raise PcosError(f"--count must be 0 or more, not {count}")
    out = Path(out_dir)
    prepare_dir(out)
    settings = {**manifest(factory, count, fmt, preset_name), **(manifest_extra or {})}
    write_file_atomically(out / MANIFEST_FILE,
                          _manifest_bytes({**settings, "complete": False, "written": 0}))
    try:
        _remove_stale(out, count, fmt)
    except OSError as exc:
        raise PcosError(f"cannot clear old sheets in {out}: {exc.strerror or exc}") from exc

    start = time.perf_counter()
    tmp = out / f".{TRUTH_FILE}.{os.getpid()}.tmp"
    state = _RunState()
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            _run(make or factory.sheet, count, out, fmt, factory.params.dpi, fh, state, progress)
        state.complete = True
    except OSError as exc:
        raise PcosError(f"cannot write in {out}: {exc.strerror or exc}") from exc
    finally:
        _finish_truth(tmp, out / TRUTH_FILE, state.complete)
        write_file_atomically(out / MANIFEST_FILE,
                              _manifest_bytes({**settings, "complete": state.complete,
                                               "written": state.written}))
    return WriteSummary(out, state.written, state.genuine, state.written - state.genuine,
                        time.perf_counter() - start, state.complete)


@dataclass
class _RunState:
    written: int = 0
    genuine: int = 0
    complete: bool = False


def _run(make: Callable[[int], SimSheet], count: int, out: Path, fmt: ImageFormat,
         dpi: float, fh: TextIO, state: _RunState, progress: Callable[[int], None] | None) -> None:
    """Make the sheets in order; encode images on threads; write truth lines in order."""
    pending: deque[tuple[dict[str, Any], list[Future[None]]]] = deque()

    def settle_first() -> None:
        truth, futures = pending.popleft()
        for f in futures:
            f.result()  # re-raises a failed write
        fh.write(truth_line(truth))
        state.written += 1
        state.genuine += bool(truth.get("genuine"))
        if progress is not None:
            progress(state.written)

    pool = ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="sheet-writer")
    try:
        for i in range(count):
            sheet: SimSheet = make(i)
            front_path, back_path = sheet_paths(out, i, fmt)
            pending.append((sheet.truth,
                            [pool.submit(write_image, front_path, sheet.front, fmt, dpi),
                             pool.submit(write_image, back_path, sheet.back, fmt, dpi)]))
            while pending and (len(pending) > MAX_SHEETS_IN_FLIGHT
                               or all(f.done() for f in pending[0][1])):
                settle_first()
        while pending:
            settle_first()
    finally:
        _shutdown(pool, (f for _, fs in pending for f in fs))


def _shutdown(pool: ThreadPoolExecutor, futures: Iterable[Future[None]]) -> None:
    """Stop the writer threads; on an early stop, cancel what has not started."""
    for f in futures:
        f.cancel()
    pool.shutdown(wait=True)


def _finish_truth(tmp: Path, final: Path, complete: bool) -> None:
    try:
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if complete:
            raise PcosError(f"cannot write {final}: {exc.strerror or exc}") from exc
