"""Compare a device's test report with a test deck's expected results: PASS/FAIL per line.

Inputs (JSON):

* the **expected results** a deck was made with (``expected.json``, written by
  ``pcos testdeck make``): ``{"format": "pcos-kg/testdeck-expected", "tally":
  <Tally JSON>, "returned": {reason: n}, ...}``. Its counts come from the
  validity rules applied to the sheets' intended marks, never from a reader.
* the **test report** of the device in test mode (or of ``pcos testdeck
  run``): ``{"format": "pcos-kg/testdeck-report", "tally": <Tally JSON as
  election.tally.Tally.to_json writes it>, "returned": {reason: n}, ...}``;
  other keys are kept for the record and not compared.

Every count is a check: each option of each contest, the contest's blank,
overvote, withdrawn and ballot counts, each preference status, each valid
preference (party, position) found on either side, and each reject reason
found on either side. Because every option of a deck has a distinct count,
a swap, a dead box or a shifted grid cannot cancel out; :func:`diagnose`
names the likely fault (two options swapped, a box that never counts, a
preference square read as another).

This module imports only ``election`` and the shipped fonts, so the device
firmware can use it to print its own verdict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from calibration.fonts import pil_font
from election.errors import PcosError
from election.tally import Tally, TallyError

EXPECTED_FORMAT = "pcos-kg/testdeck-expected"
REPORT_FORMAT = "pcos-kg/testdeck-report"


class VerifyError(PcosError):
    """An expected-results file or a test report that cannot be compared."""


@dataclass(frozen=True)
class Check:
    """One compared count. ``reported`` is None when the report lacks the line."""

    section: str  # a contest id, or "returned", or "election"
    item: str  # an option id, "(blank)", "preference P03 #12", a reject reason...
    expected: int | str
    reported: int | str | None

    @property
    def passed(self) -> bool:
        return self.reported == self.expected

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        got = "missing" if self.reported is None else str(self.reported)
        return (f"{verdict}  {self.section:<22} {self.item:<31} expected "
                f"{self.expected!s:>6}  reported {got:>7}")


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]
    diagnosis: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def summary(self) -> str:
        n, bad = len(self.checks), len(self.failures)
        if self.passed:
            return f"PASS: all {n} checks pass"
        return f"FAIL: {bad} of {n} checks fail"


# --------------------------------------------------------------------------- loading


def load_json(path: str | os.PathLike[str], what: str) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerifyError(f"{p}: no {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifyError(f"{p}: cannot read the {what} ({exc})") from None
    except ValueError as exc:
        raise VerifyError(f"{p}: the {what} is not JSON ({exc})") from None


def _returned(doc: Mapping[str, Any], where: str) -> dict[str, int]:
    raw = doc.get("returned")
    if not isinstance(raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in raw.items()):
        raise VerifyError(f"{where}: 'returned' must map reject reasons to counts >= 0")
    return dict(raw)


def _tally(doc: Mapping[str, Any], where: str) -> Tally:
    try:
        return Tally.from_json(doc.get("tally"))
    except TallyError as exc:
        raise VerifyError(f"{where}: bad tally: {exc}") from None


def parse_counts(doc: Any, where: str, fmt: str) -> tuple[Tally, dict[str, int]]:
    """(tally, returned by reason) of an expected-results or report document."""
    if not isinstance(doc, Mapping):
        raise VerifyError(f"{where}: must be a JSON object")
    if doc.get("format") != fmt:
        raise VerifyError(f"{where}: format must be {fmt!r}, not {doc.get('format')!r}")
    return _tally(doc, where), _returned(doc, where)


# --------------------------------------------------------------------------- comparing


def _contest_items(doc: Mapping[str, Any]) -> dict[str, int]:
    """Every count of one contest's Tally JSON as item -> count."""
    items = {str(k): int(v) for k, v in doc["options"].items()}
    for key in ("blank", "overvote", "withdrawn", "ballots"):
        items[f"({key})"] = int(doc[key])
    for status, n in doc.get("preference_statuses", {}).items():
        items[f"(preference {status})"] = int(n)
    for p in doc.get("preferences", []):
        items[f"preference {p['party']} #{p['position']}"] = int(p["count"])
    return items


def _sort_key(item: str) -> tuple[int, str, int]:
    if item.startswith("preference "):
        party, _, pos = item[len("preference "):].partition(" #")
        return (2, party, int(pos))
    return (1 if item.startswith("(") else 0, item, 0)


def compare(expected: Tally, expected_returned: Mapping[str, int], reported: Tally,
            reported_returned: Mapping[str, int]) -> Verdict:
    """Every count of the expected results against the report."""
    checks: list[Check] = [Check("election", "id", expected.election, reported.election)]
    exp_doc = expected.to_json()["contests"]
    rep_doc = reported.to_json()["contests"]
    for contest in sorted(set(exp_doc) | set(rep_doc)):
        exp = _contest_items(exp_doc[contest]) if contest in exp_doc else {}
        rep = _contest_items(rep_doc[contest]) if contest in rep_doc else None
        items = set(exp) | set(rep or {})
        for item in sorted(items, key=_sort_key):
            is_pref = item.startswith("preference ")
            e = exp.get(item, 0)
            if rep is None:
                r: int | None = None
            else:
                r = rep.get(item, 0 if is_pref else None)
            if contest not in exp_doc and r == 0:
                continue  # a contest the deck does not hold, counted zero: nothing to say
            checks.append(Check(contest, item, e, r))
    for reason in sorted(set(expected_returned) | set(reported_returned)):
        checks.append(Check("returned", reason, expected_returned.get(reason, 0),
                            reported_returned.get(reason, 0)))
    return Verdict(tuple(checks), diagnose(checks))


def diagnose(checks: Sequence[Check]) -> tuple[str, ...]:
    """Name the likely faults behind failed checks (swaps, dead boxes, misread squares)."""
    out: list[str] = []
    failed = [c for c in checks if not c.passed and isinstance(c.reported, int)
              and isinstance(c.expected, int)]
    by_section: dict[str, list[Check]] = {}
    for c in failed:
        by_section.setdefault(c.section, []).append(c)
    for section, cs in by_section.items():
        options = [c for c in cs if not c.item.startswith(("(", "preference "))]
        paired: set[str] = set()
        for i, a in enumerate(options):
            for b in options[i + 1:]:
                if a.item in paired or b.item in paired:
                    continue
                if a.reported == b.expected and b.reported == a.expected:
                    out.append(f"{section}: options {a.item} and {b.item} look swapped "
                               f"({a.item} has {b.item}'s count {b.expected} and "
                               f"{b.item} has {a.item}'s count {a.expected})")
                    paired |= {a.item, b.item}
        for c in options:
            if c.item not in paired and c.reported == 0:
                out.append(f"{section}: option {c.item} counted nothing (expected "
                           f"{c.expected}): a dead box, or its marks went elsewhere")
        lost = [c for c in cs if c.item.startswith("preference ")
                and int(c.reported or 0) < int(c.expected)]
        gained = [c for c in cs if c.item.startswith("preference ")
                  and int(c.reported or 0) > int(c.expected)]
        for c in lost:
            party = c.item.split()[1]
            to = [g.item.split("#")[1] for g in gained if g.item.split()[1] == party]
            where = f"; {party} gained at square(s) {', '.join(to)}" if to else ""
            out.append(f"{section}: {c.item} counted {c.reported} of {c.expected}{where}")
    return tuple(out)


def verify_files(expected_path: str | os.PathLike[str],
                 report_path: str | os.PathLike[str]) -> Verdict:
    exp_t, exp_r = parse_counts(load_json(expected_path, "expected results"),
                                str(expected_path), EXPECTED_FORMAT)
    rep_t, rep_r = parse_counts(load_json(report_path, "test report"), str(report_path),
                                REPORT_FORMAT)
    return compare(exp_t, exp_r, rep_t, rep_r)


# --------------------------------------------------------------------------- reports


def text_report(verdict: Verdict, title: str) -> str:
    """The printed report: every check, then the diagnosis and the verdict."""
    lines = [title, "=" * len(title), ""]
    lines += [c.line() for c in verdict.checks]
    if verdict.diagnosis:
        lines += ["", "Diagnosis:"] + [f"  - {d}" for d in verdict.diagnosis]
    lines += ["", verdict.summary(), ""]
    return "\n".join(lines)


_PASS_RGB = (30, 130, 60)
_FAIL_RGB = (200, 30, 30)


def png_report(verdict: Verdict, title: str) -> np.ndarray:
    """The report as a rendered table (RGB array): failures first, then every check."""
    font = pil_font(False, 15)
    bold = pil_font(True, 15)
    big = pil_font(True, 22)
    row_h, width = 21, 1100
    cols = (12, 90, 330, 720, 880)
    rows = list(verdict.failures) + [c for c in verdict.checks if c.passed]
    head = 100 + 20 * len(verdict.diagnosis)
    height = head + row_h * (len(rows) + 1) + 20
    img = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((12, 10), title, font=big, fill=(0, 0, 0))
    d.text((12, 44), verdict.summary(), font=big,
           fill=_PASS_RGB if verdict.passed else _FAIL_RGB)
    y = 80
    for line in verdict.diagnosis:
        d.text((12, y), line[:140], font=font, fill=_FAIL_RGB)
        y += 20
    y = head
    for x, name in zip(cols, ("", "contest", "item", "expected", "reported"), strict=True):
        d.text((x, y), name, font=bold, fill=(0, 0, 0))
    y += row_h
    for i, c in enumerate(rows):
        if i % 2:
            d.rectangle((0, y - 2, width, y + row_h - 3), fill=(242, 242, 242))
        colour = _PASS_RGB if c.passed else _FAIL_RGB
        d.text((cols[0], y), "PASS" if c.passed else "FAIL", font=bold, fill=colour)
        d.text((cols[1], y), c.section, font=font, fill=(0, 0, 0))
        d.text((cols[2], y), c.item, font=font, fill=(0, 0, 0))
        d.text((cols[3], y), str(c.expected), font=font, fill=(0, 0, 0))
        d.text((cols[4], y), "missing" if c.reported is None else str(c.reported), font=font,
               fill=colour)
        y += row_h
    return np.asarray(img)
