"""The environment carries the headless OpenCV build only, and the package imports cleanly.

The design card asks for opencv-python-headless; the desktop wheel (opencv-python)
pulls in GUI libraries a polling-station device must not carry, and two OpenCV
wheels in one environment overwrite each other's ``cv2``.
"""

from __future__ import annotations

import importlib
from importlib import metadata

import pytest

NON_HEADLESS = {"opencv-python", "opencv-contrib-python"}


def _installed() -> set[str]:
    return {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}


def test_no_desktop_opencv_wheel_is_installed() -> None:
    installed = _installed()
    assert "opencv-python-headless" in installed
    assert not (installed & NON_HEADLESS), installed & NON_HEADLESS


def test_nothing_we_depend_on_requires_the_desktop_wheel() -> None:
    """Walk the declared requirements of every installed distribution."""
    offenders = []
    for dist in metadata.distributions():
        for req in dist.requires or ():
            name = req.split(";")[0].split("[")[0].strip().split(" ")[0]
            for op in "<>=!~":
                name = name.split(op)[0]
            if name.lower() in NON_HEADLESS:
                offenders.append(f"{dist.metadata['Name']} requires {req}")
    assert not offenders, offenders


@pytest.mark.parametrize("module", ["election", "calibration", "simulator", "vision",
                                   "firmware", "protocol", "tools.cli", "benchmarks"])
def test_top_level_packages_import(module: str) -> None:
    assert importlib.import_module(module) is not None


def test_vision_does_not_import_calibration_or_simulator() -> None:
    """vision imports only election (DESIGN.md): the renderer is injected."""
    import ast
    from pathlib import Path

    root = Path(importlib.import_module("vision").__file__).parent  # type: ignore[arg-type]
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in {"calibration", "simulator", "tools",
                                               "firmware", "protocol"}, f"{path.name}: {n}"


def test_election_does_not_import_opencv() -> None:
    import ast
    from pathlib import Path

    root = Path(importlib.import_module("election").__file__).parent  # type: ignore[arg-type]
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name != "cv2" for a in node.names), path.name
            if isinstance(node, ast.ImportFrom):
                assert node.module != "cv2", path.name
