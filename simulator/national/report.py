"""The HTML report of a national run, with matplotlib PNG plots.

``OUT/report.html`` with ``OUT/plots/*.png``: stations reported over the evening
(by the device time of the results receipt), voters by hour of arrival and the
turnout they add up to, the party-list result at the CEC against the truth, and
incidents by kind and region. The figures come from the run's records and the
summary; nothing here is computed from the CEC that the checks did not compare.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from election.model import PARTY_LIST_CONTEST, Election
from election.tally import Tally, TallyBuilder


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _reported(plt: Any, records: list[dict[str, Any]], path: Path) -> None:
    times = sorted(r["reported_s"] / 3600.0 for r in records if r["reported_s"] is not None)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.step(times, range(1, len(times) + 1), where="post", color="#1f5fa8")
    ax.axvline(24.0, color="grey", ls="--", lw=1)
    ax.text(24.05, 0.05 * max(1, len(times)), "midnight", color="grey")
    ax.set_xlabel("local time (h; 24+ = the next morning)")
    ax.set_ylabel("stations reported")
    ax.set_title(f"Stations whose results reached the CEC ({len(times)} of {len(records)})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _turnout(plt: Any, records: list[dict[str, Any]], path: Path) -> None:
    hours = [sum(r["voters_by_hour"][h] for r in records) for h in range(24)]
    on_list = sum(r["voters_on_list"] for r in records) or 1
    span = [h for h in range(24) if hours[h]] or [8]
    xs = list(range(min(span), max(span) + 1))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([x + 0.5 for x in xs], [hours[x] for x in xs], width=0.9, color="#7aa6d6")
    ax.set_xlabel("hour of arrival (local time)")
    ax.set_ylabel("voters")
    ax2 = ax.twinx()
    cum, total = [], 0
    for x in xs:
        total += hours[x]
        cum.append(100.0 * total / on_list)
    ax2.plot([x + 1 for x in xs], cum, color="#b03a2e", marker="o", ms=3)
    ax2.set_ylabel("turnout so far (%)")
    ax.set_title("Turnout by hour")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _results(plt: Any, election: Election, cec: Tally, truth: Tally, path: Path) -> None:
    a, b = cec.contest(PARTY_LIST_CONTEST), truth.contest(PARTY_LIST_CONTEST)
    options = [o for o, _ in b.options]
    va, vb = max(1, a.valid), max(1, b.valid)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    xs = range(len(options))
    ax.bar([x - 0.2 for x in xs], [100.0 * a.count(o) / va for o in options], 0.4,
           label="CEC", color="#1f5fa8")
    ax.bar([x + 0.2 for x in xs], [100.0 * b.count(o) / vb for o in options], 0.4,
           label="truth (ballot boxes)", color="#e0a030")
    ax.axhline(5.0, color="grey", ls="--", lw=1)
    ax.set_xticks(list(xs), options, rotation=90, fontsize=7)
    ax.set_ylabel("share of valid votes (%)")
    ax.set_title("Party list: CEC against the truth (reported stations)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _incidents(plt: Any, records: list[dict[str, Any]], path: Path) -> None:
    kinds = sorted({i["kind"] for r in records for i in r["incidents"]})
    regions = sorted({r["region"] for r in records})
    counts = {k: [sum(1 for r in records if r["region"] == g for i in r["incidents"]
                      if i["kind"] == k) for g in regions] for k in kinds}
    fig, ax = plt.subplots(figsize=(8, 3.8))
    bottom = [0] * len(regions)
    for k in kinds:
        ax.bar(regions, counts[k], bottom=bottom, label=k)
        bottom = [x + y for x, y in zip(bottom, counts[k], strict=True)]
    ax.set_ylabel("incidents")
    ax.set_title("Incidents by kind and region")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    if kinds:
        ax.legend(fontsize=7)
    else:
        ax.set_title("Incidents by kind and region: none")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _sum(election: Election, tallies: list[Tally]) -> Tally:
    b = TallyBuilder.from_tally(Tally.empty(election, ()))
    for t in tallies:
        b.merge(t)
    return b.build()


def write_report(out: Path, election: Election, summary: dict[str, Any],
                 records: list[dict[str, Any]], cec_national: Tally | None = None) -> Path:
    """Write ``out/report.html`` and its plots; return the HTML path."""
    plt = _plt()
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    missing = set(summary["stations_missing"])
    truth = _sum(election, [Tally.from_json(r["truth"]) for r in records
                            if r["station"] not in missing])
    cec = cec_national if cec_national is not None else truth
    _reported(plt, records, plots / "reported.png")
    _turnout(plt, records, plots / "turnout.png")
    _results(plt, election, cec, truth, plots / "results.png")
    _incidents(plt, records, plots / "incidents.png")
    ok = summary["totals_match_truth"] and summary["delivered_once"]
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(json.dumps(v))}</td>"
                   f"</tr>" for k, v in summary.items()
                   if k not in ("differences", "faults", "server"))
    diffs = "".join(f"<li>{html.escape(json.dumps(d, ensure_ascii=False))}</li>"
                    for d in summary["differences"]) or "<li>none</li>"
    spoiled = "".join(f"<li>station {html.escape(r['station'])}: "
                      f"{html.escape(', '.join(r['spoiled']))}</li>"
                      for r in records if r.get("spoiled")) or "<li>none</li>"
    verdict = ("The CEC equals the truth at every level, and every device message was "
               "delivered exactly once." if ok else "DIFFERENCES FOUND: see below.")
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PCOS-KG national day</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td{{border-bottom:1px solid #ddd;padding:2px 8px}} .ok{{color:#1a7f37}} .bad{{color:#b03a2e}}
</style></head><body>
<h1>Simulated national election day</h1>
<p class="{'ok' if ok else 'bad'}"><b>{verdict}</b></p>
<p>{summary['stations']} stations, {summary['devices']} devices, {summary['sheets']} sheets,
{summary['messages']} messages; {summary['stations_reported']} stations reported,
{len(missing)} missing ({', '.join(sorted(missing)) or 'none'}).</p>
<h2>Stations reported over the evening</h2><img src="plots/reported.png" alt="reported">
<h2>Turnout by hour</h2><img src="plots/turnout.png" alt="turnout">
<h2>Results against the truth</h2><img src="plots/results.png" alt="results">
<h2>Incidents by kind and region</h2><img src="plots/incidents.png" alt="incidents">
<h2>Spoiled ballots</h2><p>Genuine ballots the scanner kept returning, cancelled by the
DEC and exchanged for fresh ones ({summary.get('ballots_spoiled', 0)} in all):</p>
<ul>{spoiled}</ul>
<h2>Differences</h2><ul>{diffs}</ul>
<h2>Figures</h2><table>{rows}</table>
<h2>Fault rates</h2><pre>{html.escape(json.dumps(summary.get('faults', {}), indent=1))}</pre>
</body></html>
"""
    path = out / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path
