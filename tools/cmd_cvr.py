"""``pcos cvr export``: NIST SP 1500-103 cast vote records from cast-sheet records.

``pcos cvr export (--store DEVICE_DIR | --records FILE.jsonl --station S --device-id D)
--out FILE [--election FILE] [--retention all|rejected+marginal|none] [--test]
[--include-times] [--generated TIME]``

``--store``: the device's media (its cast sheet records, its package's station and
device id; ``firmware.cvrstore``). ``--records``: one ``CastSheetRecord`` JSON object a
line (the form of ``CastSheetRecord.to_json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from election.errors import PcosError
from election.fileio import write_atomically
from firmware.cvr import ImageRetention, export_cvrs, load_records_jsonl
from firmware.cvrstore import export_store
from firmware.provision import instant
from tools.common import add_election_option, load_election_arg


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("cvr", help="cast vote records (NIST SP 1500-103)",
                                   description="Export cast vote records.")
    subs = parser.add_subparsers(dest="cvr_command", metavar="ACTION")
    subs.required = True
    export = subs.add_parser("export", help="write NIST CVR JSON from cast-sheet records")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", metavar="DIR",
                        help="a device's media directory (internal/, removable/): its cast "
                             "sheets; station and device id come from its package")
    source.add_argument("--records", metavar="FILE",
                        help="cast-sheet records, one JSON object a line")
    export.add_argument("--out", metavar="FILE", required=True, help="CVR JSON file to write")
    export.add_argument("--station", help="the station the sheets were cast at (--records)")
    export.add_argument("--device-id", help="the device that read them (--records)")
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
    generated = instant(args.generated if args.generated else dt.datetime.now(dt.UTC))
    if args.store:
        export = export_store(Path(args.store), election, generated=generated,
                              retention=ImageRetention(args.retention), test=args.test,
                              include_times=args.include_times)
    else:
        if not args.station or not args.device_id:
            raise PcosError("--records needs --station and --device-id")
        records = load_records_jsonl(args.records)
        export = export_cvrs(records, election=election, station=args.station,
                             device_id=args.device_id, generated=generated,
                             retention=ImageRetention(args.retention), test=args.test,
                             include_times=args.include_times)
    write_atomically(args.out, export.dumps())
    mode = "test" if args.test else "official"
    print(f"{export.exported} {mode} CVR(s) written to {args.out}; "
          f"{export.skipped_other_mode} record(s) of the other mode left out")
    return 0
