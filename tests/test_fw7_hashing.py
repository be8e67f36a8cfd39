"""The image hashes the device records (issue 7): SHA-256 of the exact raw pixels, computed
in worker threads beside the reader, or in the device's thread for a side whose worker had
not started; never anything weaker."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from fw_fixtures import open_polls, rig, table_for

from firmware.device import _PendingHashes, image_sha256
from firmware.hal.imaging import DuplexImages
from firmware.store import SheetState
from simulator.devices import SimWorld, tiny_images


def _reference(img: np.ndarray) -> str:
    h = hashlib.sha256(f"{img.shape}|{img.dtype}|".encode("ascii"))
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()


def test_digest_is_sha256_of_shape_dtype_and_every_pixel() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    assert image_sha256(img) == _reference(img)
    view = img[:, ::-1]  # not contiguous: hashed from a contiguous copy, same pixels
    assert image_sha256(view) == _reference(view)
    changed = img.copy()
    changed[299, 199, 2] ^= 1  # one bit of the last pixel
    assert image_sha256(changed) != image_sha256(img)
    assert image_sha256(img.reshape(200, 300, 3)) != image_sha256(img)  # shape is hashed


def test_a_side_whose_worker_never_started_is_hashed_in_place() -> None:
    rng = np.random.default_rng(4)
    images = DuplexImages(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
                          rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as busy:
        busy.submit(gate.wait)  # the only worker is busy: both hashes stay queued
        front = busy.submit(image_sha256, images.front)
        back = busy.submit(image_sha256, images.back)
        digests = _PendingHashes(images, front, back).result()
        assert front.cancelled() and back.cancelled()
        gate.set()
    assert digests == [_reference(images.front), _reference(images.back)]
    with ThreadPoolExecutor(max_workers=2) as free:  # workers that ran: their results
        pending = _PendingHashes(images, free.submit(image_sha256, images.front),
                                 free.submit(image_sha256, images.back))
        assert pending.result() == digests


def test_every_stored_sheet_holds_the_digests_of_its_images(tmp_path: Path) -> None:
    sheets = [f"S{i}" for i in range(6)]
    r = rig(tmp_path, table_for(sheets, seed=2), SimWorld(queue=list(sheets)))
    open_polls(r)
    for _ in sheets:
        r.world.insert_next()
        r.device.step()
    stored = r.device.store.sheets(state=SheetState.CAST)
    assert len(stored) == len(sheets)
    by_digest = {image_sha256(tiny_images(s).front): s for s in sheets}
    for rec in stored:
        sheet = by_digest[rec["images"][0]]
        images = tiny_images(sheet)
        assert rec["images"] == [_reference(images.front), _reference(images.back)]
    r.device.close()
