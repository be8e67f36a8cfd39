"""``pcos cvr export``: NIST SP 1500-103 cast vote records from cast-sheet records.

``pcos cvr export --records FILE.jsonl --station S --device-id D --out FILE
[--election FILE] [--retention all|rejected+marginal|none] [--test] [--include-times]
[--generated TIME]``

The records file holds one ``firmware.cvr.CastSheetRecord`` JSON object a line (the
form of ``CastSheetRecord.to_json``). Until the device store exports them itself,
this is how CVRs are produced from a device's records.
"""

from __future__ import annotations

import argparse
import datetime as dt

from election.fileio import write_atomically
from firmware.cvr import ImageRetention, export_cvrs, load_records_jsonl
from firmware.provision import instant
from tools.common import add_election_option, load_election_arg


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("cvr", help="cast vote records (NIST SP 1500-103)",
                                   description="Export cast vote records.")
    subs = parser.add_subparsers(dest="cvr_command", metavar="ACTION")
    subs.required = True
    export = subs.add_parser("export", help="write NIST CVR JSON from cast-sheet records")
    export.add_argument("--records", metavar="FILE", required=True,
                        help="cast-sheet records, one JSON object a line")
    export.add_argument("--out", metavar="FILE", required=True, help="CVR JSON file to write")
    export.add_argument("--station", required=True, help="the station the sheets were cast at")
    export.add_argument("--device-id", required=True, help="the device that read them")
    add_election_option(export)
    export.add_argument("--retention", choices=[r.value for r in ImageRetention],
                        default=ImageRetention.REJECTED_AND_MARGINAL.value,
                        help="whose image files are kept (hashes are always exported)")
    export.add_argument("--test", action="store_true",
                        help="export the test-mode sheets instead of the official ones")
    export.add_argument("--include-times", action="store_true",
                        help="include cast times (they can reveal the order of voters)")
    export.add_argument("--generated", metavar="TIME", help="report time (default: now, UTC)")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    election = load_election_arg(args.election)
    records = load_records_jsonl(args.records)
    generated = instant(args.generated if args.generated else dt.datetime.now(dt.UTC))
    export = export_cvrs(records, election=election, station=args.station,
                         device_id=args.device_id, generated=generated,
                         retention=ImageRetention(args.retention), test=args.test,
                         include_times=args.include_times)
    write_atomically(args.out, export.dumps())
    mode = "test" if args.test else "official"
    print(f"{export.exported} {mode} CVR(s) written to {args.out}; "
          f"{export.skipped_other_mode} record(s) of the other mode left out")
    return 0
