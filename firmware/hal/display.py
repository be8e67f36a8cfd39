"""The display and the operator's keys. Messages are shown in Kyrgyz and Russian."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from election.model import Text


class Audience(StrEnum):
    VOTER = "voter"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Screen:
    """What the display shows: a screen id (stable, for tests) and its ky/ru text."""

    screen: str
    voter: Text
    operator: Text | None = None
    detail: str = ""


class Key(StrEnum):
    """Keys on the device: the voter's two buttons (warn policy) and the operator's menu."""

    CAST_AS_IS = "cast-as-is"
    TAKE_BACK = "take-back"
    MENU = "menu"
    OK = "ok"


class Display(Protocol):
    def show(self, screen: Screen) -> None:
        ...


class Keys(Protocol):
    def poll(self) -> Key | None:
        """The next key pressed, or None."""
        ...
