"""Read a device's two media offline and check them (``pcos audit verify``).

Nothing here writes: the SQLite database is opened read-only and the journal
is scanned, not repaired.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from election.errors import PcosError
from firmware.audit import VerifyReport, compare_media, verify_chain
from firmware.crypto import public_key_from_bytes, unb64
from firmware.journal import JournalError, read_journal
from firmware.store import DB_NAME, JOURNAL_NAME


@dataclass
class MediaAudit:
    internal: VerifyReport | None = None
    removable: VerifyReport | None = None
    problems: list[str] = field(default_factory=list)
    key_source: str = ""

    @property
    def ok(self) -> bool:
        return (not self.problems and all(r is None or r.ok
                                          for r in (self.internal, self.removable))
                and (self.internal is not None or self.removable is not None))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "key": self.key_source, "problems": self.problems,
                "internal": self.internal.to_json() if self.internal else None,
                "removable": self.removable.to_json() if self.removable else None}


def internal_events(db_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Audit events and meta values from the internal database (read-only)."""
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        events = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit ORDER BY seq")]
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        db.close()
    except sqlite3.Error as exc:
        raise PcosError(f"{db_path}: cannot read the internal database ({exc})") from exc
    return events, meta


def removable_events(journal_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    scan = read_journal(journal_path)
    events = [r["event"] for r in scan.records if r.get("op") == "audit"]
    meta = {r["key"]: r["value"] for r in scan.records if r.get("op") == "meta"}
    return events, meta, scan.problem


def audit_media(internal_dir: Path | None, removable_dir: Path | None,
                public: Ed25519PublicKey | None = None) -> MediaAudit:
    """Verify the audit log on each medium given, and compare them."""
    out = MediaAudit()
    logs: dict[str, list[dict[str, Any]]] = {}
    meta: dict[str, Any] = {}
    if internal_dir is not None:
        path = internal_dir / DB_NAME
        if not path.is_file():
            out.problems.append(f"{path}: no internal database")
        else:
            logs["internal"], meta = internal_events(path)
    if removable_dir is not None:
        path = removable_dir / JOURNAL_NAME
        if not path.is_file():
            out.problems.append(f"{path}: no journal")
        else:
            try:
                logs["removable"], jmeta, torn = removable_events(path)
            except JournalError as exc:
                out.problems.append(str(exc))
            else:
                meta = meta or jmeta
                if torn:
                    out.problems.append(f"journal: {torn}")
    if public is None and "device-key" in meta:
        public = public_key_from_bytes(unb64(meta["device-key"]["public"], "device key"))
        out.key_source = ("the key the device recorded (give --cert to check against the "
                          "device certificate)")
    elif public is not None:
        out.key_source = "the device certificate"
    for name, log in logs.items():
        rep = verify_chain(log, public)
        setattr(out, name, rep)
    if "internal" in logs and "removable" in logs:
        out.problems += compare_media(logs["internal"], logs["removable"])
    return out
