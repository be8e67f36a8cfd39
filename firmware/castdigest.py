"""The running digest of the cast sheets: what the device caches with each cast.

The device keeps a running count while polls are open and checks it against the
sheet records at boot and at close (a lost, doubled or changed cast record shows as
a mismatch). Caching the whole running tally with each cast costs time in proportion
to the tally's size (hundreds of microseconds per sheet late in the day: building,
converting and encoding every option and preference); this digest costs the same for
every sheet: the number of casts and the sum, modulo 2**256, of the SHA-256 of each
cast outcome's canonical JSON (an additive multiset hash: independent of order, so
the recount from the records, ordered by ``seq``, gives the same value).

It is a consistency check against storage faults and bugs, not a defence against an
attacker who can write the store (the hash-chained, signed audit log is that).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from firmware.crypto import canonical_json

_MOD = 1 << 256


@dataclass
class CastDigest:
    """Number of casts and the additive digest of their outcomes."""

    casts: int = 0
    digest: int = 0

    def add(self, outcome: Any) -> None:
        """Count one cast outcome (its JSON form, as stored in the sheet record)."""
        self.add_term(self.term(outcome))

    @staticmethod
    def term(outcome: Any) -> int:
        """What one cast of ``outcome`` adds to the digest (the SHA-256 of its canonical
        JSON, as an integer): a recount computes it once per distinct outcome."""
        return int.from_bytes(hashlib.sha256(canonical_json(outcome)).digest(), "big")

    def add_term(self, term: int) -> None:
        """Count one cast whose :meth:`term` is ``term``."""
        self.casts += 1
        self.digest = (self.digest + term) % _MOD

    def to_json(self) -> dict[str, Any]:
        return {"casts": self.casts, "digest": f"{self.digest:064x}"}
