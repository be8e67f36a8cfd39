"""Shared check of a reader's verdicts against the simulator's mark truth."""

from __future__ import annotations

from typing import Any

from vision.result import Mark, SheetInterpretation


def assert_reads_truth(res: SheetInterpretation, truth_targets: list[dict[str, Any]]) -> int:
    """Every definite target read marked and every empty one unmarked (marginal truth may
    go either way); returns how many definite targets the sheet had."""
    classes = {(t["contest"], t["option"]): t["class"] for t in truth_targets}
    marked = 0
    for t in res.targets:
        cls = classes[(t.contest, t.option)]
        if cls == "definite":
            assert t.mark is Mark.MARKED, (t.contest, t.option, t.mark)
            marked += 1
        elif cls == "none":
            assert t.mark is Mark.UNMARKED, (t.contest, t.option, t.mark)
    return marked
