"""Hardware interfaces: what the paper sensors mean, scans from a folder, the simulated path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from election.errors import PcosError
from firmware.hal.files import FolderImageSensor
from firmware.hal.imaging import ImageSensorError
from firmware.hal.paper import MotionResult, PaperSensors
from simulator.devices import SimPaperPath, SimWorld
from vision.imageio import save_image


@pytest.mark.parametrize(("entry", "r1", "r2", "clear", "held", "jammed"), [
    (False, False, False, True, False, False),
    (True, False, False, False, False, False),  # at the entry
    (False, True, True, False, True, False),  # held at the back
    (True, True, False, False, False, True),  # stopped between sensors
    (False, True, False, False, False, True),
    (False, False, True, False, False, True),
    (True, True, True, False, False, True),
])
def test_sensor_positions(entry: bool, r1: bool, r2: bool, clear: bool, held: bool,
                          jammed: bool) -> None:
    s = PaperSensors(entry, r1, r2, False, False)
    assert (s.path_clear, s.held_at_rear, s.jammed) == (clear, held, jammed)


def test_simulated_path_feed_return_eject_and_a_jam() -> None:
    world = SimWorld()
    paper = SimPaperPath(world)
    assert paper.feed() is MotionResult.NO_PAPER
    world.insert("A")
    assert paper.sensors().at_entry_only
    assert paper.feed() is MotionResult.DONE and paper.sensors().held_at_rear
    assert paper.return_to_voter() is MotionResult.DONE and world.entry == ["A"]
    assert paper.feed() is MotionResult.DONE
    drop = paper.eject_to_box()
    assert drop.confirmed and world.box == ["A"] and paper.sensors().path_clear
    world.insert("B")
    world.jam_ejects(1)
    paper.feed()
    drop = paper.eject_to_box()
    assert not drop.confirmed and paper.sensors().jammed and world.box == ["A"]
    assert world.clear_jam() == "B" and paper.sensors().path_clear
    world.set_cover(True)
    world.insert("C")
    assert paper.feed() is MotionResult.COVER_OPEN


def test_world_survives_in_its_file(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    w = SimWorld.load(path)
    w.insert("A")
    SimPaperPath(w).feed()
    SimPaperPath(w).eject_to_box()
    with open(path, "ab") as f:
        f.write(b'{"torn')  # a write cut short
    again = SimWorld.load(path)
    assert again.box == ["A"] and again.path is None


def test_folder_image_sensor_reads_pairs_in_order(tmp_path: Path) -> None:
    for i in range(2):
        img = np.full((40, 30, 3), 50 * (i + 1), dtype=np.uint8)
        save_image(tmp_path / f"{i:06d}-front.png", img)
        save_image(tmp_path / f"{i:06d}-back.png", 255 - img)
    sensor = FolderImageSensor(tmp_path)
    first = sensor.capture()
    assert int(first.front[0, 0, 0]) == 50 and int(first.back[0, 0, 0]) == 205
    assert int(sensor.capture().front[0, 0, 0]) == 100
    with pytest.raises(ImageSensorError):
        sensor.capture()


def test_folder_without_a_back_image_is_refused(tmp_path: Path) -> None:
    save_image(tmp_path / "000000-front.png", np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(PcosError, match="no matching back"):
        FolderImageSensor(tmp_path)
