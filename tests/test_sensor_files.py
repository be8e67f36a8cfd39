"""A sensor that compresses delivers JPEG files: the device records the SHA-256 of each file
as delivered, keeps the file itself when it retains the images, and the CVR points at it
with that hash (anyone can check it with ``sha256sum``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from fw_fixtures import ELECTION, STATION, open_polls, table_for
from nist_reference import nist_schema

from firmware.cvr import ImageRetention
from firmware.cvrstore import export_store
from firmware.device import image_sha256
from firmware.hal.files import FolderImageSensor
from firmware.hal.imaging import JPEG, DuplexImages, ImageSensorError, SensorFile
from firmware.reader_setup import make_reader
from firmware.store import SheetState
from simulator import scanner as sc
from simulator.devices import SimWorld, sensor_images
from simulator.rig import build_device
from simulator.sheets import SheetFactory
from vision.imageio import decode_image, save_image
from vision.result import SheetInterpretation


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_compressing_scanner_delivers_files_that_decode_to_its_pixels() -> None:
    harsh = SheetFactory(ELECTION, STATION, sc.preset("harsh"), seed=5, fake_rate=0.3)
    seen_fake = False
    for i in range(4):  # the harsh scanner compresses every sheet, fakes and double feeds too
        sheet = harsh.sheet(i)
        seen_fake |= not sheet.truth["genuine"]
        assert sheet.jpeg is not None
        for data, pixels in zip(sheet.jpeg, (sheet.front, sheet.back), strict=True):
            assert data[:2] == b"\xff\xd8"
            assert np.array_equal(decode_image(data), pixels)
    assert seen_fake
    clean = SheetFactory(ELECTION, STATION, sc.preset("clean"), seed=5)
    assert clean.sheet(0).jpeg is None  # raw pixels: nothing else is delivered


class _ByPixels:
    """Stand-in reader: the interpretation stored for the sheet whose front it is given."""

    def __init__(self, table: dict[str, SheetInterpretation],
                 images: dict[str, DuplexImages]) -> None:
        self.by_front = {image_sha256(images[s].front): table[s] for s in table}

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        return self.by_front[image_sha256(front)]


def _jpeg_sheet(rng: np.random.Generator) -> DuplexImages:
    sides = [sc.jpeg_file_rgb(rng.integers(0, 256, (48, 32, 3), dtype=np.uint8), 85)
             for _ in range(2)]
    return sensor_images(sides[0][0], sides[1][0], (sides[0][1], sides[1][1]))


def test_the_device_records_keeps_and_exports_the_files_as_delivered(tmp_path: Path) -> None:
    """Real sheets from a scanner that compresses, read by the real reader."""
    jpeg_scanner = sc.preset("realistic").with_(jpeg_probability=1.0)
    factory = SheetFactory(ELECTION, STATION, jpeg_scanner, seed=8, fake_rate=0.3)
    sims = {f"S{i}": factory.sheet(i) for i in range(5)}
    images = {s: sensor_images(sim.front, sim.back, sim.jpeg) for s, sim in sims.items()}
    sheets = list(images)
    world = SimWorld(queue=list(sheets))
    r = build_device(tmp_path, world, ELECTION, STATION, make_reader(ELECTION, STATION),
                     images_of=images.__getitem__, image_retention=ImageRetention.ALL)
    r.device.boot()
    open_polls(r)
    for _ in sheets:
        world.insert_next()
        if r.device.step().action == "returned":
            world.take_from_entry()  # the voter takes it back; the device waits again
            r.device.step()
    records = r.device.store.sheets()
    assert {rec["state"] for rec in records} == {SheetState.CAST.value,
                                                  SheetState.RETURNED.value}
    folder = tmp_path / "internal" / "images"
    for rec, sheet in zip(records, sheets, strict=True):
        files = images[sheet].files
        assert files is not None
        assert rec["images"] == [_sha(files[0].data), _sha(files[1].data)]
        assert rec["image_format"] == JPEG
        sid = rec["id"].replace("/", "_")
        for side, f in zip(("front", "back"), files, strict=True):
            assert (folder / f"{sid}-{side}.jpg").read_bytes() == f.data
    assert not list(folder.glob("*.png"))
    r.device.close()
    report = export_store(tmp_path, ELECTION, generated="2021-11-28T20:05:00Z",
                          retention=ImageRetention.ALL).report
    schema = json.loads(nist_schema("NIST_V0_cast_vote_records.json").read_text())
    jsonschema.Draft4Validator(schema).validate(report)
    cast = [rec for rec in records if rec["state"] == SheetState.CAST.value]
    assert len(report["CVR"]) == len(cast) > 0
    for cvr in report["CVR"]:
        for image in cvr["BallotImage"]:
            location = image["Location"].removeprefix("file:")
            assert location.endswith(".jpg")
            data = (tmp_path / "internal" / location).read_bytes()
            assert image["Hash"]["Value"] == _sha(data)


def test_a_failed_capture_after_a_jam_keeps_no_earlier_images(tmp_path: Path) -> None:
    """The sheet after an eject jam is not seen by the sensor: its record holds no image
    hashes, and the jammed sheet's images are not kept under its id."""
    rng = np.random.default_rng(12)
    first = _jpeg_sheet(rng)
    table = table_for(["A"], seed=4, fake_rate=0.0)

    def images_of(sheet: str) -> DuplexImages:
        if sheet == "B":
            raise ImageSensorError("lamp failure")
        return first

    world = SimWorld(queue=["A", "B"])
    r = build_device(tmp_path, world, ELECTION, STATION, _ByPixels(table, {"A": first}),
                     images_of=images_of, image_retention=ImageRetention.ALL)
    r.device.boot()
    open_polls(r)
    world.jam_ejects(1)
    world.insert_next()
    assert r.device.step().action == "jammed"
    world.clear_jam()
    r.device.step()  # the device sees the path clear again
    world.insert_next()
    result = r.device.step()
    assert (result.action, result.reason) == ("returned", "image-invalid")
    rec = r.device.store.sheets()[-1]
    assert rec["images"] == [] and "image_format" not in rec
    kept = sorted(p.name for p in (tmp_path / "internal" / "images").glob("*"))
    assert not [name for name in kept if name.startswith(rec["id"].replace("/", "_"))]
    r.device.close()


def test_a_file_in_an_unknown_format_is_a_sensor_error() -> None:
    with pytest.raises(ImageSensorError, match="'gif' file; known formats: jpeg"):
        SensorFile("gif", b"GIF89a")


def test_a_folder_of_jpeg_scans_delivers_its_files(tmp_path: Path) -> None:
    """Scans a compressing scanner wrote to a folder: the files come with their pixels;
    lossless scans (PNG) are pixels only."""
    rng = np.random.default_rng(13)
    sides = {s: sc.jpeg_file_rgb(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), 90)
             for s in ("front", "back")}
    for side, (_, data) in sides.items():
        (tmp_path / f"000001-{side}.jpg").write_bytes(data)
    save_image(tmp_path / "000002-front.png", sides["front"][0])
    save_image(tmp_path / "000002-back.png", sides["back"][0])
    sensor = FolderImageSensor(tmp_path)
    jpeg, png = sensor.capture(), sensor.capture()
    assert jpeg.files is not None
    assert [f.data for f in jpeg.files] == [sides["front"][1], sides["back"][1]]
    assert np.array_equal(jpeg.front, sides["front"][0])
    assert png.files is None and np.array_equal(png.back, sides["back"][0])
