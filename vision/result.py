"""What the reader says about one fed sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from election.reject import RejectReason, message


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # read, every target definite or unmarked
    REVIEW = "review"  # read, but some target is marginal: the ballot policy decides
    REJECTED = "rejected"  # returned to the voter, with a reason


class Mark(StrEnum):
    MARKED = "marked"
    MARGINAL = "marginal"
    UNMARKED = "unmarked"


@dataclass(frozen=True)
class TargetScores:
    """Raw measurements, kept apart from any threshold.

    ``fill``: share of the box interior with new ink at least ``INK_LEVEL`` dark;
    ``faint``: the same at ``FAINT_LEVEL``; ``light``: at ``LIGHT_LEVEL``;
    ``ring``: share of the ring around the box with new ink. New ink = darker
    than the blank ballot at that spot.
    ``printed``: darkness of the scan on the box's printed border relative to
    the blank ballot's (about 1 when the box is printed; near 0 when it is not).
    """

    fill: float
    faint: float
    ring: float
    printed: float = 1.0
    light: float = 0.0  # share of the interior with new ink at least LIGHT_LEVEL dark, leaving
    # out straight bands that cross the box and its ring from side to side (streaks, folds)


@dataclass(frozen=True)
class TargetReading:
    contest: str
    option: str
    scores: TargetScores
    mark: Mark
    centre_px: tuple[float, float]  # (x, y) of the box centre in the ballot-side image
    shift_px: tuple[int, int]  # local search correction (dx, dy)

    def to_json(self) -> dict[str, Any]:
        return {
            "contest": self.contest,
            "option": self.option,
            "score": round(self.scores.fill, 4),
            "faint": round(self.scores.faint, 4),
            "light": round(self.scores.light, 4),
            "ring": round(self.scores.ring, 4),
            "mark": self.mark.value,
            "at_px": [round(self.centre_px[0], 1), round(self.centre_px[1], 1)],
        }


@dataclass(frozen=True)
class SheetInterpretation:
    outcome: Outcome
    reason: RejectReason | None = None
    detail: str = ""
    side: str | None = None  # "front" | "back": which image holds the ballot
    orientation: str | None = None  # e.g. "front/180"
    kind: str | None = None
    stripe: str | None = None  # the stripe colour as read: "blue" | "pink" | "none" | ...
    election_hash: str | None = None  # the 8 hex digits read from the code
    contest: str | None = None
    district: int | None = None
    language: str | None = None
    targets: tuple[TargetReading, ...] = ()
    contests: dict[str, Any] = field(default_factory=dict)
    marginal: tuple[str, ...] = ()  # target ids reported marginal
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        return self.outcome is Outcome.REJECTED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome": self.outcome.value,
            "reason": self.reason.value if self.reason else None,
            "detail": self.detail,
            "kind": self.kind,
            "district": self.district,
            "contest": self.contest,
            "language": self.language,
            "orientation": self.orientation,
            "stripe": self.stripe,
            "targets": [t.to_json() for t in self.targets],
            "contests": self.contests,
            "marginal": list(self.marginal),
        }
        if self.reason is not None:
            msg = message(self.reason)
            out["message"] = {"voter": {"ky": msg.voter.ky, "ru": msg.voter.ru},
                              "operator": {"ky": msg.operator.ky, "ru": msg.operator.ru}}
        return out
