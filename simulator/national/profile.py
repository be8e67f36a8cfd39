"""``pcos sim national --profile``: where the workers' time goes, per sheet.

Each station is profiled with cProfile in the worker that runs it
(:func:`simulator.national.station.run_station`, ``OUT/profile/station-N.prof``);
:func:`summarise` merges them and writes ``OUT/profile.txt``: the share of time per
source file (own time), then the top functions by own and by cumulative time, with
microseconds per sheet. cProfile's own overhead inflates many small calls (a profiled
run takes about twice as long): read the shares, not the absolute times.
"""

from __future__ import annotations

import io
import pstats
from collections import Counter
from pathlib import Path

TOP = 40


def _where(filename: str, function: str) -> str:
    if filename.startswith("~"):
        return f"(built-in) {function}"
    if "site-packages/" in filename:
        return f"(lib) {filename.split('site-packages/', 1)[1].split('/')[0]}"
    if "/lib/python3" in filename:  # the standard library: .../lib/python3.11/json/x.py
        return f"(stdlib) {filename.split('/lib/python3', 1)[1].split('/', 1)[-1]}"
    parts = Path(filename).parts
    for root in ("firmware", "simulator", "protocol", "election", "vision", "calibration"):
        if root in parts:
            return "/".join(parts[parts.index(root):])
    return filename


def summarise(directory: Path, sheets: int) -> str:
    """The merged profile of every ``*.prof`` in ``directory`` as text."""
    files = sorted(directory.glob("*.prof"))
    if not files:
        return "no profiles\n"
    stats = pstats.Stats(str(files[0]))
    for f in files[1:]:
        stats.add(str(f))
    raw = stats.stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    total = 0.0
    for (filename, _line, function), (_cc, _nc, tt, _ct, _callers) in raw.items():
        own[_where(filename, function)] += tt
        total += tt
    per = 1e6 / max(1, sheets)
    out = io.StringIO()
    out.write(f"{len(files)} stations, {sheets} sheets, {total:.1f} s profiled "
              f"({total * per:.0f} us per sheet under the profiler)\n\n")
    out.write("own time by source file\n")
    for where, t in own.most_common(TOP):
        out.write(f"  {100 * t / total:5.1f} %  {t * per:8.1f} us/sheet  {where}\n")
    for order in ("tottime", "cumulative"):
        out.write(f"\nfunctions by {order}\n")
        buf = io.StringIO()
        stats.stream = buf  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(TOP)
        out.write(buf.getvalue())
    return out.getvalue()
