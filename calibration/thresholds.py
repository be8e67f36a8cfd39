"""Threshold calibration for CEC technicians: from a deck with known intent to thresholds.

Input: the reader's raw scores of every target of a deck of marked sheets
(simulated by ``pcos sim sheets``, or real scans with a ``truth.jsonl`` in the
same format), each with its truth class (``definite`` — a clear vote,
``marginal`` — a person would want to look, ``none`` — no mark) and the
voter's instrument.

Recommendation (only the ``fill`` score's two thresholds are fitted; the
``faint`` and ``ring`` thresholds are kept as configured):

* **marked** (``definite``): the cut on ``fill`` that separates definite
  targets from marginal and empty ones at the least weighted cost — an empty
  box read marked (a silent false vote) weighs 10, a marginal box read marked
  or a definite one read below the cut weighs 1;
* **marginal**: the cut that separates empty boxes from marginal ones with
  any fill — a marginal box that ``faint`` and ``ring`` do not catch either
  weighs 10 when missed (one they catch, 1), a definite box falling under it
  (a silent lost vote) 100, an empty box sent to review 1. With fewer than
  ``MIN_MARGINAL`` marginal targets in the deck it is not fitted (the report
  says so) and stays as configured.

Where several cuts cost the same (the classes do not overlap), the middle of
the widest such interval on a log scale is taken, so the threshold sits
midway between the classes. Expected rates at any thresholds are computed by
classifying every stored score with the reader's own rule
(``vision.marks.classify``).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from election.errors import PcosError
from election.fileio import write_atomically
from vision.config import Thresholds
from vision.marks import classify
from vision.result import Mark, Outcome, SheetInterpretation, TargetScores

THRESHOLDS_FORMAT = "pcos-kg/thresholds"
THRESHOLDS_VERSION = 1
CLASSES = ("definite", "marginal", "none")
# Scores below this (under two pixels of a box interior at 200 DPI) count as no ink: they are
# drawn, and cut, at this value on the log axes.
FLOOR = 1e-3
MIN_MARGINAL = 10  # fewer marginal targets in the deck: the marginal threshold is not fitted


class ThresholdsError(PcosError):
    """A thresholds file is unreadable or its values are not valid thresholds."""


@dataclass(frozen=True)
class TargetSample:
    sheet: int | str
    cls: str  # truth class
    instrument: str
    fill: float
    faint: float
    ring: float


def collect(pairs: Iterable[tuple[dict[str, Any], SheetInterpretation]]) -> list[TargetSample]:
    """Scores of every target of every genuine sheet the reader read, with its truth class."""
    out: list[TargetSample] = []
    for truth, res in pairs:
        if not truth.get("genuine", True) or res.outcome is Outcome.REJECTED:
            continue
        classes = {(t["contest"], t["option"]): t["class"] for t in truth.get("targets", [])}
        style = truth.get("style") or {}
        instrument = str(style.get("instrument", "unknown")).lower()
        for r in res.targets:
            cls = classes.get((r.contest, r.option))
            if cls in CLASSES:
                out.append(TargetSample(truth.get("sheet", "?"), cls, instrument,
                                        r.scores.fill, r.scores.faint, r.scores.ring))
    return out


# ----------------------------------------------------------------------------- rates


@dataclass(frozen=True)
class Rates:
    """What a set of thresholds does on the deck."""

    definite: float
    marginal: float
    targets: int
    definite_read_unmarked: int  # silent lost votes
    none_read_marked: int  # silent false votes
    silent_error_rate: float  # the two above over definite + none targets
    clear_flagged_marginal_rate: float  # definite or none targets sent to review
    marginal_caught_rate: float  # marginal targets flagged marginal
    marginal_read_marked_rate: float
    sheets_to_review_rate: float  # sheets with any target flagged marginal


def evaluate(samples: list[TargetSample], th: Thresholds) -> Rates:
    marks = [classify(TargetScores(s.fill, s.faint, s.ring), th) for s in samples]
    n = {c: sum(1 for s in samples if s.cls == c) for c in CLASSES}

    def count(cls: str, mark: Mark) -> int:
        return sum(1 for s, m in zip(samples, marks, strict=True) if s.cls == cls and m is mark)

    clear = n["definite"] + n["none"]
    lost, false = count("definite", Mark.UNMARKED), count("none", Mark.MARKED)
    flagged = count("definite", Mark.MARGINAL) + count("none", Mark.MARGINAL)
    sheets = {s.sheet for s in samples}
    review = {s.sheet for s, m in zip(samples, marks, strict=True) if m is Mark.MARGINAL}

    def rate(a: int, b: int) -> float:
        return round(a / b, 6) if b else 0.0

    return Rates(th.definite, th.marginal, len(samples), lost, false, rate(lost + false, clear),
                 rate(flagged, clear), rate(count("marginal", Mark.MARGINAL), n["marginal"]),
                 rate(count("marginal", Mark.MARKED), n["marginal"]),
                 rate(len(review), len(sheets)))


# ----------------------------------------------------------------------------- cuts


def best_cut(values: np.ndarray, high: np.ndarray, weights: np.ndarray) -> float:
    """The threshold t minimising sum(weights of low values >= t) + sum(weights of high
    values < t); ties: the log-middle of the widest optimal interval."""
    v = np.log10(np.clip(values, FLOOR, 1.0))
    edges = np.unique(np.concatenate([[math.log10(FLOOR)], v, [0.0]]))
    cands = (edges[:-1] + edges[1:]) / 2 if edges.size > 1 else edges
    if cands.size == 0:
        return 0.05
    low_w = np.where(~high, weights, 0.0)
    high_w = np.where(high, weights, 0.0)
    cost = np.array([low_w[v >= c].sum() + high_w[v < c].sum() for c in cands])
    best = cost.min()
    # Widest run of optimal candidates, measured by the gap between the scores around it.
    ok = cost == best
    runs: list[tuple[float, float]] = []
    i = 0
    while i < ok.size:
        if ok[i]:
            j = i
            while j + 1 < ok.size and ok[j + 1]:
                j += 1
            runs.append((edges[i], edges[j + 1]))
            i = j + 1
        else:
            i += 1
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    return float(10 ** ((lo + hi) / 2))


@dataclass(frozen=True)
class Recommendation:
    thresholds: Thresholds
    recommended: Rates
    current: Rates
    sweep_definite: list[Rates]  # marked threshold varied, marginal at the recommendation
    sweep_marginal: list[Rates]  # marginal threshold varied, marked at the recommendation
    notes: list[str]


def recommend(samples: list[TargetSample], base: Thresholds | None = None) -> Recommendation:
    base = base or Thresholds()
    if not any(s.cls == "definite" for s in samples) or not any(s.cls == "none"
                                                                for s in samples):
        raise PcosError("the deck needs both marked (definite) and empty (none) targets")
    fill = np.array([s.fill for s in samples])
    cls = np.array([s.cls for s in samples])
    w_m = np.select([cls == "none", cls == "marginal"], [10.0, 1.0], 1.0)
    t_m = best_cut(fill, cls == "definite", w_m)
    # For the marginal cut: empty boxes (low) against marginal boxes with any fill (a marginal
    # box with no fill at all can only be caught by faint or ring), and definite boxes that the
    # marked cut leaves below it. A marginal box that faint and ring do not catch weighs 10.
    caught = np.array([s.faint >= base.faint or s.ring >= base.ring for s in samples])
    keep = (cls == "none") | ((cls == "marginal") & (fill >= FLOOR)) | (
        (cls == "definite") & (fill < t_m))
    w_r = np.select([cls == "none", (cls == "marginal") & caught, cls == "marginal"],
                    [1.0, 1.0, 10.0], 100.0)
    notes: list[str] = []
    if int((cls == "marginal").sum()) >= MIN_MARGINAL and (keep & (cls != "none")).any():
        t_r = min(best_cut(fill[keep], cls[keep] != "none", w_r[keep]), t_m * 0.5)
    else:
        t_r = min(base.marginal, t_m * 0.5)
        notes.append(f"only {int((cls == 'marginal').sum())} marginal targets in the deck "
                     f"(at least {MIN_MARGINAL} needed): the marginal threshold is not fitted; "
                     "make a deck with more marginal marks (pcos calibrate deck)")
    th = Thresholds(definite=round(t_m, 5), marginal=round(t_r, 5), faint=base.faint,
                    ring=base.ring)
    grid = np.unique(np.round(np.geomspace(max(FLOOR, t_r * 1.05), 0.9, 12), 5))
    sweep_m = [evaluate(samples, Thresholds(float(t), th.marginal, th.faint, th.ring))
               for t in sorted({*grid.tolist(), th.definite}) if t > th.marginal]
    grid_r = np.unique(np.round(np.geomspace(FLOOR, th.definite * 0.95, 12), 5))
    sweep_r = [evaluate(samples, Thresholds(th.definite, float(t), th.faint, th.ring))
               for t in sorted({*grid_r.tolist(), th.marginal}) if t < th.definite]
    return Recommendation(th, evaluate(samples, th), evaluate(samples, base), sweep_m, sweep_r,
                          notes)


# ----------------------------------------------------------------------------- files


def thresholds_json(rec: Recommendation, deck: dict[str, Any]) -> dict[str, Any]:
    th = rec.thresholds
    return {"format": THRESHOLDS_FORMAT, "format_version": THRESHOLDS_VERSION,
            "thresholds": {"definite": th.definite, "marginal": th.marginal,
                           "faint": th.faint, "ring": th.ring},
            "deck": deck, "expected": asdict(rec.recommended), "notes": rec.notes}


def parse_thresholds(doc: Any, what: str = "thresholds") -> Thresholds:
    if not isinstance(doc, dict) or doc.get("format") != THRESHOLDS_FORMAT:
        raise ThresholdsError(f"{what}: not a {THRESHOLDS_FORMAT} document")
    if doc.get("format_version") != THRESHOLDS_VERSION:
        raise ThresholdsError(f"{what}: format version {doc.get('format_version')!r} "
                              "is not supported")
    values = doc.get("thresholds")
    if not isinstance(values, dict) or set(values) != {"definite", "marginal", "faint", "ring"}:
        raise ThresholdsError(f"{what}: thresholds must give definite, marginal, faint, ring")
    try:
        return Thresholds(**{k: values[k] for k in ("definite", "marginal", "faint", "ring")})
    except (TypeError, ValueError) as exc:
        raise ThresholdsError(f"{what}: {exc}") from None


def load_thresholds(path: str | os.PathLike[str]) -> Thresholds:
    """Thresholds from a ``thresholds.json`` (as the election package carries it)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ThresholdsError(f"{path}: cannot read thresholds ({exc})") from None
    return parse_thresholds(doc, str(path))


# ----------------------------------------------------------------------------- report


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)
    return path.name


def _log(values: Iterable[float]) -> np.ndarray:
    return np.log10(np.clip(np.asarray(list(values), np.float64), FLOOR, 1.0))


def _lines(ax: Any, rec: Recommendation) -> None:
    for t, style, label in ((rec.thresholds.definite, "-", "marked (recommended)"),
                            (rec.thresholds.marginal, "-", "marginal (recommended)"),
                            (rec.current.definite, ":", "marked (current)"),
                            (rec.current.marginal, ":", "marginal (current)")):
        ax.axvline(math.log10(t), color="red" if "recommended" in label else "grey",
                   linestyle=style, linewidth=1, label=label)


def plot_all(samples: list[TargetSample], rec: Recommendation, out: Path) -> dict[str, str]:
    colours = {"definite": "#2f6fd0", "marginal": "#f0a020", "none": "#707070"}
    bins = np.linspace(math.log10(FLOOR), 0, 41)
    files: dict[str, str] = {}
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for ax, c in zip(axes, CLASSES, strict=True):
        vals = _log(s.fill for s in samples if s.cls == c)
        ax.hist(vals, bins=bins, color=colours[c], log=bool(vals.size))
        ax.set_ylabel(f"{c}\n(n={vals.size})")
        _lines(ax, rec)
    axes[0].legend(fontsize=7, loc="upper center")
    axes[-1].set_xlabel(f"log10 fill score (scores under {FLOOR:g} at the left edge)")
    fig.suptitle("Fill score by truth class")
    files["classes"] = _save(fig, out / "scores-by-class.png")

    instruments = sorted({s.instrument for s in samples})
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(instruments) * 3 + 1.5))
    ticks: list[float] = []
    labels: list[str] = []
    y = 0.0
    for inst in instruments:
        for c in CLASSES:
            vals = _log(s.fill for s in samples if s.instrument == inst and s.cls == c)
            if vals.size:
                jitter = np.random.default_rng(int(2 * y)).uniform(-0.3, 0.3, vals.size)
                ax.scatter(vals, y + jitter, s=4, color=colours[c], alpha=0.5)
            ticks.append(y)
            labels.append(f"{inst} · {c} ({vals.size})")
            y += 1
        y += 0.5
    ax.set_yticks(ticks, labels, fontsize=7)
    _lines(ax, rec)
    ax.set_xlabel("log10 fill score")
    ax.set_title("Fill score by instrument and truth class")
    files["instruments"] = _save(fig, out / "scores-by-instrument.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    fill = np.array([s.fill for s in samples])
    cls = np.array([s.cls for s in samples])
    ts = np.geomspace(FLOOR, 1.0, 200)
    for ax, pos, title, chosen in (
            (axes[0], cls == "definite", "marked: definite vs the rest", rec.thresholds.definite),
            (axes[1], cls != "none", "review: marked or marginal vs none",
             rec.thresholds.marginal)):
        tpr = [float((fill[pos] >= t).mean()) if pos.any() else 0.0 for t in ts]
        fpr = [float((fill[~pos] >= t).mean()) if (~pos).any() else 0.0 for t in ts]
        ax.plot(fpr, tpr, color="#2f6fd0")
        cx = float((fill[~pos] >= chosen).mean()) if (~pos).any() else 0.0
        cy = float((fill[pos] >= chosen).mean()) if pos.any() else 0.0
        ax.plot([cx], [cy], "o", color="red", label=f"recommended {chosen:g}")
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("ROC of the fill score")
    files["roc"] = _save(fig, out / "roc.png")

    fig, axes = plt.subplots(3, 1, figsize=(9, 6.5), sharex=True)
    lm, lr = math.log10(rec.thresholds.definite), math.log10(rec.thresholds.marginal)
    for ax, c in zip(axes, CLASSES, strict=True):
        vals = _log(s.fill for s in samples if s.cls == c)
        if c == "definite":
            margin = vals - lm  # must stay above the marked threshold
        elif c == "none":
            margin = lr - vals  # must stay below the marginal threshold
        else:
            margin = np.minimum(vals - lr, lm - vals)  # between the two
        ax.hist(margin, bins=40, color=colours[c], log=bool(margin.size))
        ax.axvline(0.0, color="red", linewidth=1)
        ax.set_ylabel(f"{c}")
    axes[-1].set_xlabel("margin to the recommended threshold(s), log10 units "
                        "(negative: the wrong side)")
    fig.suptitle("Margins")
    files["margins"] = _save(fig, out / "margins.png")
    return files


def _table(rows: list[Rates]) -> str:
    head = ("marked", "marginal", "silent errors", "silent error rate", "clear targets to review",
            "marginal caught", "sheets to review")
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = (f"{r.definite:g}", f"{r.marginal:g}",
                 f"{r.definite_read_unmarked + r.none_read_marked}",
                 f"{r.silent_error_rate:.4%}", f"{r.clear_flagged_marginal_rate:.3%}",
                 f"{r.marginal_caught_rate:.1%}", f"{r.sheets_to_review_rate:.2%}")
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join([*out, "</table>"])


def write_report(samples: list[TargetSample], rec: Recommendation, out: Path,
                 deck: dict[str, Any]) -> Path:
    """index.html, the four PNG plots and thresholds.json in ``out``; returns the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    files = plot_all(samples, rec, out)
    doc = thresholds_json(rec, deck)
    write_atomically(out / "thresholds.json",
                     (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    counts = {c: sum(1 for s in samples if s.cls == c) for c in CLASSES}
    th = rec.thresholds
    parts = [
        "<!doctype html><meta charset='utf-8'><title>PCOS-KG threshold calibration</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #aaa;padding:2px 6px}</style>",
        "<h1>Threshold calibration</h1>",
        f"<p>Deck: {html.escape(json.dumps(deck, ensure_ascii=False))}. Targets: "
        + ", ".join(f"{c} {n}" for c, n in counts.items()) + ".</p>",
        f"<h2>Recommended</h2><p><b>marked</b> if fill &ge; {th.definite:g}; <b>marginal</b> "
        f"if fill &ge; {th.marginal:g}, faint &ge; {th.faint:g} or ring &ge; {th.ring:g} "
        "(faint and ring kept as configured). Written to "
        "<a href='thresholds.json'>thresholds.json</a>.</p>",
        _table([rec.recommended]),
        *[f"<p><b>Note:</b> {html.escape(n)}</p>" for n in rec.notes],
        "<h2>Current thresholds on this deck</h2>", _table([rec.current]),
        "<h2>Marked threshold varied</h2>", _table(rec.sweep_definite),
        "<h2>Marginal threshold varied</h2>", _table(rec.sweep_marginal),
    ]
    for key, title in (("classes", "Score distributions per class"),
                       ("instruments", "Per instrument"), ("roc", "ROC"),
                       ("margins", "Margins")):
        parts.append(f"<h2>{title}</h2><img src='{files[key]}' alt='{title}'>")
    page = out / "index.html"
    write_atomically(page, "\n".join(parts).encode("utf-8"))
    return page
