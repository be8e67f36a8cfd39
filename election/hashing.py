"""Canonical hashes of an election definition.

* ``definition_hash``: SHA-256 over the canonical JSON of the whole definition
  (keys sorted, no whitespace, UTF-8). It changes with any amendment.
* ``election_hash``: the same, but with every withdrawal removed. Withdrawals are
  amendments made after the ballots are printed; they must not change the
  identity printed in every ballot code, or the scanner would refuse the paper
  already at the stations. This is the hash that "identifies the election
  everywhere": ballot codes, layouts, results.

Both are computed from the parsed definition, so key order and whitespace in
the file never matter.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from election.model import Election
from election.serialize import election_to_json


def canonical_bytes(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _strip_withdrawals(doc: dict[str, Any], copy: bool = True) -> dict[str, Any]:
    """``doc`` without its withdrawals (``copy=False``: in place, for a fresh document)."""
    if copy:
        doc = json.loads(json.dumps(doc))  # deep copy of plain JSON values
    for party in doc["party_list"]["parties"]:
        party.pop("withdrawn_positions", None)
    for contest in (*doc["districts"], *doc["local_councils"]):
        for cand in contest["candidates"]:
            cand.pop("withdrawn", None)
    return doc


def canonical_object_bytes(members: dict[str, bytes]) -> bytes:
    """The canonical bytes of a JSON object from its members' canonical bytes: exactly
    ``canonical_bytes({key: value, ...})`` (keys sorted, no whitespace), so that a member
    shared by two documents is serialised once."""
    return b"{" + b",".join(canonical_bytes(key) + b":" + members[key]
                            for key in sorted(members)) + b"}"


# the members of a definition that hold withdrawals; the others (the geography, the bulk
# of a national definition) are the same in both hashed documents
_WITH_WITHDRAWALS = ("party_list", "districts", "local_councils")


def _both_hashes(election: Election) -> tuple[str, str]:
    """The definition hash and the election hash from one serialisation of the election
    (a device loading the national package computes both): the members without
    withdrawals, the geography above all, are serialised once for both."""
    def compute() -> tuple[str, str]:
        doc = election_to_json(election)  # a fresh document: stripped in place below
        members = {key: canonical_bytes(value) for key, value in doc.items()}
        definition = hashlib.sha256(canonical_object_bytes(members)).hexdigest()
        stripped = _strip_withdrawals(doc, copy=False)
        members.update((key, canonical_bytes(stripped[key])) for key in _WITH_WITHDRAWALS)
        return definition, hashlib.sha256(canonical_object_bytes(members)).hexdigest()

    return election.cached("definition_and_election_hash", compute)


def definition_hash(election: Election) -> str:
    return election.cached("definition_hash", lambda: _both_hashes(election)[0])


def election_hash(election: Election) -> str:
    return election.cached("election_hash", lambda: _both_hashes(election)[1])
