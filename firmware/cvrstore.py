"""Cast vote records straight from a device's store, and the images the device keeps.

:func:`records_from_store` maps the store's ``cast`` sheet records
(:meth:`firmware.store.Store.stored_sheets`) to :class:`firmware.cvr.CastSheetRecord`:
definite marks from the reading's targets, marginal ones as flagged, the rules'
outcome, the SHA-256 of both images. :func:`export_store` opens a device's media
directory (``DIR/internal``, ``DIR/removable``, as the device and the simulator
lay them out) and writes the NIST SP 1500-103 report.

:func:`keep_images` is what the device calls after a sheet is cast or returned:
under the retention policy (all / rejected+marginal / none) it writes the
sheet's two images as PNG files into ``images/`` on the internal medium, named
as the CVR's ``BallotImage`` locations name them (lossless; written by
:func:`vision.png_fast.encode_png`, about 5x faster than OpenCV's libpng). A
sensor that compresses delivered JPEG files: those are kept as they came.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.fileio import write_atomically
from election.model import Election
from firmware.cvr import (
    RAW_IMAGES,
    CastSheetRecord,
    CvrExport,
    ImageRetention,
    export_cvrs,
    retains_images,
)
from firmware.faults import FaultPoints
from firmware.hal.imaging import SensorFile
from firmware.hal.storage import DirectoryMedium, MediumRole
from firmware.store import SheetMode, SheetState, Store
from vision import png_fast

IMAGE_DIR = "images"


def cvr_sheet_id(sheet_id: str) -> str:
    """The store's ``DEVICE/NNNNNN`` as a CVR id (no ``/``)."""
    return sheet_id.replace("/", "_")


def _marks(targets: list[dict[str, Any]], which: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for t in targets:
        if t.get("mark") == which:
            out.setdefault(t["contest"], set()).add(t["option"])
    return out


def record_of(sheet: dict[str, Any]) -> CastSheetRecord:
    """One stored ``cast`` sheet as the CVR exporter's record."""
    reading = sheet.get("reading") or {}
    targets = reading.get("targets") or []
    marginal = _marks(targets, "marginal")
    for target_id in sheet.get("marginal") or []:
        contest, _, option = str(target_id).partition("/")
        if option:
            marginal.setdefault(contest, set()).add(option)
    marked = _marks(targets, "marked")
    for contest, options in marginal.items():
        options -= marked.get(contest, set())
    front, back = sheet["images"]
    t = str(sheet.get("t", ""))
    return CastSheetRecord(
        sheet_id=cvr_sheet_id(sheet["id"]), ballot_kind=reading["kind"],
        contest_id=reading["contest"],
        marked={c: frozenset(o) for c, o in marked.items()},
        marginal={c: frozenset(o) for c, o in marginal.items()},
        outcome=sheet["outcome"], image_sha256_front=front, image_sha256_back=back,
        test=sheet["mode"] == SheetMode.TEST.value, time=t[:19] + "Z" if len(t) >= 19 else t,
        image_format=sheet.get("image_format", RAW_IMAGES))


def records_from_store(store: Store, mode: SheetMode) -> list[CastSheetRecord]:
    return [record_of(s) for s in store.stored_sheets(mode, SheetState.CAST)]


def open_device_store(directory: Path) -> Store:
    internal, removable = directory / "internal", directory / "removable"
    if not internal.is_dir() and not removable.is_dir():
        raise PcosError(f"{directory}: no device media here (expected internal/ and "
                        "removable/)")
    store = Store(DirectoryMedium(MediumRole.INTERNAL, internal),
                  DirectoryMedium(MediumRole.REMOVABLE, removable), FaultPoints())
    store.open()
    return store


def export_store(directory: Path, election: Election, *, generated: str,
                 retention: ImageRetention, test: bool = False,
                 include_times: bool = False) -> CvrExport:
    """The CVR report of the sheets cast on the device whose media are under ``directory``."""
    store = open_device_store(directory)
    try:
        package = store.meta("package")
        if not package:
            raise PcosError(f"{directory}: the device has no election package loaded")
        mode = SheetMode.TEST if test else SheetMode.OFFICIAL
        records = records_from_store(store, mode)
    finally:
        store.close()
    return export_cvrs(records, election=election, station=str(package["station"]),
                       device_id=str(package["device"]), generated=generated,
                       retention=retention, test=test, include_times=include_times,
                       image_dir=IMAGE_DIR, image_suffix=".png")


def keep_images(internal_root: Path, sheet_id: str, images: tuple[Any, Any],
                retention: ImageRetention, *, returned: bool, marginal: bool,
                files: tuple[SensorFile, SensorFile] | None = None) -> list[Path]:
    """Write the sheet's images if ``retention`` keeps them; returns the files written.
    Raw pixels are kept as lossless PNG; the ``files`` a compressing sensor delivered are
    kept as they came (re-encoding them would only cost time and add nothing)."""
    if not retains_images(retention, returned=returned, marginal=marginal):
        return []
    folder = internal_root / IMAGE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, (side, img) in enumerate(zip(("front", "back"), images, strict=True)):
        data: bytes | None
        if files is not None:
            data, suffix = files[k].data, files[k].suffix
        else:
            data, suffix = image_png(img), ".png"
        if data is not None:
            written.append(write_atomically(
                folder / f"{cvr_sheet_id(sheet_id)}-{side}{suffix}", data))
    return written


def image_png(img: Any) -> bytes | None:
    """A sensor image (RGB or grey ``uint8``) as lossless PNG bytes; None if it cannot be
    encoded. :func:`vision.png_fast.encode_png` (libdeflate, Up-filtered rows: ~30 ms for
    a 1,744 x 1,732 RGB scan) where it applies, else OpenCV's libpng at level 1 (~160 ms:
    its adaptive row filters cost most of that)."""
    import numpy as np

    arr = np.ascontiguousarray(img)
    data = png_fast.encode_png(arr)
    if data is not None:
        return data
    import cv2

    # the sensor delivers RGB; OpenCV's encoder takes BGR
    bgr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 and arr.shape[2] == 3 else arr
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return buf.tobytes() if ok else None
