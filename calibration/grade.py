"""Grade readings against ground truth (the simulator's, or a technician's truth file).

A tools-side concern: it lives in ``calibration``, not in the production reader
(``vision``), and takes its thresholds from ``vision.config.Thresholds``.

The reader never sees the truth; this module only compares afterwards. It
accumulates, sheet by sheet:

* the per-target confusion of truth class (definite / marginal / none) against
  the reading (marked / marginal / unmarked), on sheets that were read;
* sheet outcomes: genuine sheets rejected (and why), fakes rejected with the
  expected reason, with another reason, or accepted;
* contest results that differ from truth's ``expected``, counted only on
  sheets that were read without any marginal target (in truth or in reading);
* the list of misread sheets, and every raw score by truth class for the
  histogram.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from vision.config import Thresholds
from vision.result import Mark, Outcome, SheetInterpretation

TRUTH_CLASSES = ("definite", "marginal", "none")
READ_MARKS = tuple(m.value for m in Mark)


@dataclass
class Grade:
    sheets: int = 0
    genuine: int = 0
    genuine_rejected: int = 0
    genuine_review: int = 0
    fakes: int = 0
    fakes_rejected: int = 0
    fakes_right_reason: int = 0
    wrong_contest_results: int = 0
    contest_checked: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    fake_outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    misread: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in TRUTH_CLASSES})

    def add(self, truth: dict[str, Any], result: SheetInterpretation) -> None:
        self.sheets += 1
        sheet = truth.get("sheet")
        reason = result.reason.value if result.reason else None
        if not truth.get("genuine", True):
            self._add_fake(truth, result, sheet, reason)
            return
        self.genuine += 1
        if result.outcome is Outcome.REJECTED:
            self.genuine_rejected += 1
            self.reasons[reason or "?"] += 1
            self.misread.append({"sheet": sheet, "problem": "genuine rejected", "reason": reason,
                                 "detail": result.detail})
            return
        if result.outcome is Outcome.REVIEW:
            self.genuine_review += 1
        self._add_targets(truth, result, sheet)

    def _add_fake(self, truth: dict[str, Any], result: SheetInterpretation, sheet: Any,
                  reason: str | None) -> None:
        self.fakes += 1
        fake = str(truth.get("fake"))
        self.fake_outcomes[(fake, reason or result.outcome.value)] += 1
        if result.outcome is Outcome.REJECTED:
            self.fakes_rejected += 1
            if reason == truth.get("expected_reason"):
                self.fakes_right_reason += 1
                return
            problem = "fake rejected with another reason"
        else:
            problem = "fake accepted"
        self.misread.append({"sheet": sheet, "problem": problem, "fake": fake,
                             "expected": truth.get("expected_reason"), "reason": reason,
                             "detail": result.detail})

    def _add_targets(self, truth: dict[str, Any], result: SheetInterpretation,
                     sheet: Any) -> None:
        classes = {(t["contest"], t["option"]): t["class"] for t in truth.get("targets", [])}
        errors = []
        for r in result.targets:
            cls = classes.get((r.contest, r.option))
            if cls is None:
                errors.append(f"{r.contest}/{r.option}: not in truth")
                continue
            self.confusion[(cls, r.mark.value)] += 1
            self.scores[cls].append(r.scores.fill)
            if (cls, r.mark.value) in (("definite", "unmarked"), ("none", "marked"),
                                       ("definite", "marginal"), ("none", "marginal"),
                                       ("marginal", "marked"), ("marginal", "unmarked")):
                errors.append(f"{r.contest}/{r.option}: truth {cls}, read {r.mark.value} "
                              f"(fill {r.scores.fill:.3f}, faint {r.scores.faint:.3f}, "
                              f"ring {r.scores.ring:.3f})")
        if len(result.targets) != len(classes):
            errors.append(f"{len(result.targets)} targets read, truth has {len(classes)}")
        truth_marginal = any(c == "marginal" for c in classes.values())
        if result.outcome is Outcome.ACCEPTED and not truth_marginal:
            self.contest_checked += 1
            if result.contests != truth.get("expected"):
                self.wrong_contest_results += 1
                errors.append(f"contests {result.contests} != expected {truth.get('expected')}")
        if errors:
            self.misread.append({"sheet": sheet, "problem": "targets", "details": errors})

    def merge(self, other: Grade) -> Grade:
        """Add another grade's counts into this one (for parallel runs); returns self."""
        for name in ("sheets", "genuine", "genuine_rejected", "genuine_review", "fakes",
                     "fakes_rejected", "fakes_right_reason", "wrong_contest_results",
                     "contest_checked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.confusion.update(other.confusion)
        self.reasons.update(other.reasons)
        self.fake_outcomes.update(other.fake_outcomes)
        self.misread.extend(other.misread)
        for cls, values in other.scores.items():
            self.scores[cls].extend(values)
        return self

    # ------------------------------------------------------------------ figures
    def _count(self, cls: str, mark: str | None = None) -> int:
        if mark is None:
            return sum(self.confusion[(cls, m)] for m in READ_MARKS)
        return self.confusion[(cls, mark)]

    def summary(self) -> dict[str, Any]:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 6) if d else None

        dn = self._count("definite") + self._count("none")
        dn_marginal = self._count("definite", "marginal") + self._count("none", "marginal")
        return {
            "sheets": self.sheets,
            "genuine": self.genuine,
            "fakes": self.fakes,
            "targets_read": sum(self.confusion.values()),
            "definite_errors": self._count("definite", "unmarked"),
            "none_errors": self._count("none", "marked"),
            "definite_or_none_marginal": dn_marginal,
            "definite_or_none_marginal_rate": rate(dn_marginal, dn),
            "marginal_targets": self._count("marginal"),
            "marginal_flagged_rate": rate(self._count("marginal", "marginal"),
                                          self._count("marginal")),
            "genuine_rejected": self.genuine_rejected,
            "genuine_rejected_rate": rate(self.genuine_rejected, self.genuine),
            "genuine_review": self.genuine_review,
            "fakes_rejected_rate": rate(self.fakes_rejected, self.fakes),
            "fakes_right_reason_rate": rate(self.fakes_right_reason, self.fakes),
            "wrong_contest_results": self.wrong_contest_results,
            "contest_results_checked": self.contest_checked,
            "confusion": {c: {m: self.confusion[(c, m)] for m in READ_MARKS}
                          for c in TRUTH_CLASSES},
            "genuine_reject_reasons": dict(sorted(self.reasons.items())),
            "fake_outcomes": {f"{f} -> {o}": n for (f, o), n in sorted(self.fake_outcomes.items())},
            "misread_sheets": self.misread[:200],
        }

    def report(self) -> str:
        s = self.summary()
        lines = [f"sheets: {s['sheets']} (genuine {s['genuine']}, fakes {s['fakes']}); "
                 f"targets read: {s['targets_read']}",
                 "per-target confusion (truth \\ read):",
                 f"  {'':10s}" + "".join(f"{m:>10s}" for m in READ_MARKS)]
        for c in TRUTH_CLASSES:
            row = s["confusion"][c]
            lines.append(f"  {c:10s}" + "".join(f"{row[m]:>10d}" for m in READ_MARKS))
        for key in ("definite_errors", "none_errors", "definite_or_none_marginal_rate",
                    "marginal_flagged_rate", "genuine_rejected_rate", "fakes_rejected_rate",
                    "fakes_right_reason_rate", "wrong_contest_results"):
            lines.append(f"{key}: {s[key]}")
        if s["genuine_reject_reasons"]:
            lines.append(f"genuine rejects by reason: {s['genuine_reject_reasons']}")
        if s["fake_outcomes"]:
            lines.append("fakes: " + ", ".join(f"{k}: {v}" for k, v in s["fake_outcomes"].items()))
        lines.append(f"misread sheets: {len(self.misread)}")
        for m in self.misread[:30]:
            lines.append(f"  {m}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ histogram
    def histogram_png(self, path: str, thresholds: Thresholds | None = None,
                      bins: int = 48) -> None:
        """Fill scores by truth class: one panel per class, log-scaled score axis
        (0.001 to 1, with scores under 0.001 in the leftmost bar) and log-scaled counts;
        the reader's marginal and definite thresholds are drawn as red lines."""
        th = thresholds or Thresholds()
        lines_at = (th.marginal, th.definite)
        colours = {"definite": (40, 120, 220), "marginal": (240, 160, 30), "none": (90, 90, 90)}
        w, h, pad = 960, 200, 44
        img = np.full((pad + 3 * (h + pad) + 10, w + 2 * pad, 3), 255, np.uint8)
        lo, hi = -3.0, 0.0

        def x_of(score: float) -> int:
            v = (np.log10(max(score, 10**lo)) - lo) / (hi - lo)
            return pad + round(v * w)

        for i, cls in enumerate(TRUTH_CLASSES):
            top = pad + i * (h + pad)
            vals = np.log10(np.clip(np.asarray(self.scores[cls], np.float64), 10**lo, 1.0))
            counts, _edges = np.histogram(vals, np.linspace(lo, hi, bins + 1))
            logc = np.log10(counts + 1)
            peak = max(float(logc.max()), 1.0)
            for b, v in enumerate(logc):
                if counts[b] == 0:
                    continue
                x0 = pad + int(b * w / bins)
                x1 = pad + int((b + 1) * w / bins) - 1
                cv2.rectangle(img, (x0, top + h - int(v / peak * h)), (x1, top + h),
                              colours[cls][::-1], -1)
            cv2.rectangle(img, (pad, top), (pad + w, top + h), (0, 0, 0), 1)
            for t in lines_at:
                cv2.line(img, (x_of(t), top), (x_of(t), top + h), (0, 0, 220), 1)
            for tick in (0.001, 0.01, 0.1, 1.0):
                cv2.putText(img, f"{tick:g}", (x_of(tick) - 12, top + h + 14),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(img, f"{cls}: n={len(self.scores[cls])}   fill score (log) vs count (log); "
                        f"red: thresholds {', '.join(f'{t:g}' for t in lines_at)}",
                        (pad, top - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        if not path.lower().endswith(".png"):
            raise OSError(f"histogram {path}: the file name must end in .png")
        try:
            ok = cv2.imwrite(path, img)
        except cv2.error as exc:
            raise OSError(f"cannot write histogram {path}") from exc
        if not ok:
            raise OSError(f"cannot write histogram {path}")
