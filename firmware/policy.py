"""The ballot policy: what to do with a sheet the reader has read. Pure functions.

* ``kg-default`` (Kyrgyz practice, DESIGN.md): every genuine ballot goes into
  the box, invalid ones (blank, overvote, withdrawn) are counted invalid;
  sheets the reader rejects (fakes, foreign, unreadable, double feed) go back
  with the reason. Marginal targets were already counted as unmarked by the
  reader's contest judgement; they are recorded on the sheet record.
* ``warn``: as above, but a ballot with a blank, overvoted or invalid contest,
  a void preference, or a marginal target is held and the voter chooses to
  cast it as is or take it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vision.result import Outcome, SheetInterpretation


class BallotPolicy(StrEnum):
    KG_DEFAULT = "kg-default"
    WARN = "warn"


class Action(StrEnum):
    CAST = "cast"
    RETURN = "return"
    ASK_VOTER = "ask-voter"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str | None = None  # why a sheet is returned (a RejectReason value)
    warnings: tuple[str, ...] = ()  # what the warn policy tells the voter


def warnings_of(interp: SheetInterpretation) -> tuple[str, ...]:
    """Contests that are not a valid vote, void preferences, and marginal marks."""
    out = []
    for contest, doc in sorted(interp.contests.items()):
        status = doc.get("status")
        if contest == "preference":
            if status not in ("valid", "none", "not-applicable", None):
                out.append(f"preference:{status}")
        elif status != "valid":
            out.append(f"{contest}:{status}")
    if interp.marginal:
        out.append(f"marginal:{len(interp.marginal)}")
    return tuple(out)


def decide(interp: SheetInterpretation, policy: BallotPolicy) -> Decision:
    if interp.outcome is Outcome.REJECTED:
        reason = interp.reason.value if interp.reason is not None else "unreadable"
        return Decision(Action.RETURN, reason)
    if policy is BallotPolicy.WARN:
        warns = warnings_of(interp)
        if warns:
            return Decision(Action.ASK_VOTER, None, warns)
    return Decision(Action.CAST)
