"""``pcos audit verify``: check a device's hash-chained audit log on both media.

* ``pcos audit verify --dir DEVICE_DIR [--cert DEVICE.cert] [--head HASH] [--json]``
  where DEVICE_DIR holds ``internal/`` and ``removable/`` (or give
  ``--internal DIR`` / ``--removable DIR``). Exit 0 when every hash, link,
  sequence number and checkpoint signature holds and both media agree; 1 when
  something was edited, deleted or reordered (listed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from election.errors import PcosError
from firmware.crypto import load_certificate, public_key_from_bytes
from firmware.inspect import audit_media


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("audit", help="check a device's audit log",
                              description="Check a device's hash-chained audit log.")
    subs = p.add_subparsers(dest="audit_command", metavar="COMMAND")
    subs.required = True
    v = subs.add_parser("verify", help="verify the chain and checkpoint signatures on both media")
    v.add_argument("--dir", metavar="DIR", help="device directory with internal/ and removable/")
    v.add_argument("--internal", metavar="DIR", help="the internal medium's directory")
    v.add_argument("--removable", metavar="DIR", help="the removable card's directory")
    v.add_argument("--cert", metavar="FILE", help="device certificate (its key checks the "
                                                  "checkpoint signatures)")
    v.add_argument("--head", metavar="HASH", help="audit head printed on a report: the log "
                                                  "must contain it")
    v.add_argument("--json", action="store_true", help="JSON output")
    v.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    internal = Path(args.internal) if args.internal else None
    removable = Path(args.removable) if args.removable else None
    if args.dir:
        internal = internal or Path(args.dir) / "internal"
        removable = removable or Path(args.dir) / "removable"
    if internal is None and removable is None:
        raise PcosError("give --dir DIR, or --internal and/or --removable")
    public = None
    if args.cert:
        public = public_key_from_bytes(load_certificate(args.cert).public_key)
    result = audit_media(internal, removable, public)
    if args.head:
        for rep in (result.internal, result.removable):
            if rep is not None and rep.head != args.head:
                result.problems.append(f"the log's head {rep.head[:12]} is not the printed "
                                       f"head {args.head[:12]}")
                break
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        for name in ("internal", "removable"):
            rep = getattr(result, name)
            if rep is not None:
                print(f"{name}: {rep.events} events, {rep.checkpoints} signed checkpoints, "
                      f"head {rep.head[:16]}, {'OK' if rep.ok else 'FAILED'}")
                for p in rep.problems:
                    print(f"  {p}")
        for p in result.problems:
            print(f"problem: {p}")
        print(("audit log verifies" if result.ok else "AUDIT LOG DOES NOT VERIFY")
              + (f" (key: {result.key_source})" if result.key_source else ""))
    return 0 if result.ok else 1
