"""``pcos COMMAND`` registers only that command's modules; every command is in the map."""

from __future__ import annotations

import argparse
import importlib

import pytest

from tools.cli import COMMAND_MODULES, COMMANDS, build_parser, main


def _registered(module: str, sim: argparse.ArgumentParser | None = None) -> set[str]:
    parser = argparse.ArgumentParser()
    subs = parser.add_subparsers()
    for name in ("tools.cmd_sim", module) if module == "tools.cmd_national" else (module,):
        importlib.import_module(name).register(subs)
    return set(subs.choices)


def test_every_command_of_every_module_is_mapped_to_its_modules() -> None:
    for module in COMMAND_MODULES:
        for command in _registered(module):
            assert module in COMMANDS[command], (command, module)
    assert set(COMMANDS) == {c for m in COMMAND_MODULES for c in _registered(m)}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_alone_parses_its_help(command: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser([command, "--help"]).parse_args([command, "--help"])
    assert exit_.value.code == 0 and command in capsys.readouterr().out


def test_unknown_command_still_lists_them_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "scan" in err and "station" in err
