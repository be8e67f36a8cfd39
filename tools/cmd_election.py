"""``pcos election``: inspect and export election definitions.

* ``pcos election show [--election FILE] [--json]`` prints a summary of the
  definition (the embedded default when no file is given): identity, hashes,
  and the figures a CEC technician checks against the official ones. With
  ``--json`` it prints one JSON object (keys in :func:`election_summary`).
* ``pcos election export --out FILE [--election FILE]`` writes the definition
  as a pretty-printed JSON file to edit; an existing file is replaced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from election.definition import dump_election
from election.errors import PcosError
from election.hashing import definition_hash, election_hash
from election.model import Election
from tools.common import add_election_option, load_election_arg


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("election", help="inspect or export the election definition",
                                   description="Inspect or export the election definition.")
    subs = parser.add_subparsers(dest="election_command", metavar="ACTION")
    subs.required = True

    show = subs.add_parser("show", help="summarise a definition (default: the embedded one)")
    add_election_option(show)
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=_show)

    export = subs.add_parser("export", help="write a definition as a JSON file to edit")
    add_election_option(export)
    export.add_argument("--out", metavar="FILE", required=True, help="file to write")
    export.set_defaults(func=_export)


def election_summary(election: Election) -> dict[str, Any]:
    """The figures of a definition, as plain JSON values."""
    stations_abroad = [s for s in election.stations if s.abroad]
    regions: dict[str, dict[str, int]] = {
        r.id: {"stations": 0, "voters": 0, "districts": 0} for r in election.regions
    }
    for s in election.stations:
        regions[s.region]["stations"] += 1
        regions[s.region]["voters"] += s.voters
    for d in election.districts:
        if d.region is not None:
            regions[d.region]["districts"] += 1
    ballots: dict[str, dict[str, int]] = {}
    for s in election.stations:
        for b in s.ballots:
            per_lang = ballots.setdefault(b.kind.value, {})
            per_lang[b.language.value] = per_lang.get(b.language.value, 0) + b.count
    return {
        "election_id": election.election_id,
        "name": {"ky": election.name.ky, "ru": election.name.ru},
        "date": election.date.isoformat(),
        "rules": election.rules,
        "election_hash": election_hash(election),
        "definition_hash": definition_hash(election),
        "parties": len(election.party_list.parties),
        "list_candidates": election.list_candidates,
        "withdrawn_list_positions": [
            {"party": p.id, "position": pos}
            for p in election.party_list.parties for pos in sorted(p.withdrawn_positions)
        ],
        "preference_squares": election.party_list.preference_squares,
        "districts": len(election.districts),
        "district_candidates": election.district_candidates,
        "withdrawn_district_candidates": [
            c.id for d in election.districts for c in d.candidates if c.withdrawn
        ],
        "councils": len(election.councils),
        "council_ids": [c.id.removeprefix("council-") for c in election.councils],
        "council_candidates": sum(len(c.candidates) for c in election.councils),
        "regions": len(election.regions),
        "tecs": len(election.tecs),
        "stations": len(election.stations),
        "stations_abroad": len(stations_abroad),
        "voters": election.voters,
        "voters_abroad": sum(s.voters for s in stations_abroad),
        "by_region": regions,
        "ballots": ballots,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable form of :func:`election_summary`."""
    withdrawn_list = ", ".join(f"{w['party']} #{w['position']}"
                               for w in summary["withdrawn_list_positions"]) or "none"
    withdrawn_district = ", ".join(summary["withdrawn_district_candidates"]) or "none"
    lines = [
        f"election         {summary['election_id']}  ({summary['date']}, rules "
        f"{summary['rules']})",
        f"  ky             {summary['name']['ky']}",
        f"  ru             {summary['name']['ru']}",
        f"election hash    {summary['election_hash']}",
        f"definition hash  {summary['definition_hash']}",
        f"party list       {summary['parties']} parties, {summary['list_candidates']:,} "
        f"candidates, {summary['preference_squares']} preference squares",
        f"  withdrawn      {withdrawn_list}",
        f"districts        {summary['districts']}, {summary['district_candidates']:,} candidates",
        f"  withdrawn      {withdrawn_district}",
        f"local councils   {summary['councils']} ({', '.join(summary['council_ids']) or '-'}), "
        f"{summary['council_candidates']} candidates",
        f"geography        {summary['regions']} regions, {summary['tecs']} TECs",
        f"stations         {summary['stations']:,} ({summary['stations_abroad']} abroad)",
        f"voters           {summary['voters']:,} ({summary['voters_abroad']:,} abroad)",
        "",
        f"{'region':<14}{'stations':>9}{'voters':>12}{'districts':>11}",
    ]
    for region, row in summary["by_region"].items():
        lines.append(f"{region:<14}{row['stations']:>9,}{row['voters']:>12,}"
                     f"{row['districts']:>11}")
    if summary["ballots"]:
        lines += ["", f"{'ballots':<14}{'ky':>12}{'ru':>12}"]
        for kind, per_lang in summary["ballots"].items():
            lines.append(f"{kind:<14}{per_lang.get('ky', 0):>12,}{per_lang.get('ru', 0):>12,}")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    summary = election_summary(load_election_arg(args.election))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(format_summary(summary))
    return 0


def _export(args: argparse.Namespace) -> int:
    election = load_election_arg(args.election)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PcosError(f"cannot create directory {str(out.parent)!r}: "
                        f"{exc.strerror or exc}") from None
    dump_election(election, out)
    print(f"wrote {out}: election {election.election_id}, "
          f"election hash {election_hash(election)[:16]}")
    return 0
