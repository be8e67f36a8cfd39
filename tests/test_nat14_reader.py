"""nat14: the definition reader's quick paths give what its full checks give.

The reader takes a member that is plainly right without building its JSON path (a
national definition has some 80,000 objects: every device loading the package reads
them all). A parsed document (``bytes``) goes through those quick paths; the same
document as plain Python dicts never does (they are not ``_JsonObject``), so it takes
the full checks. For valid and mutated documents both must give the same election, or
the same typed error at the same path.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from election.default import default_election
from election.definition import election_json_text, load_election
from election.errors import DefinitionError
from election.hashing import (
    _strip_withdrawals,
    canonical_bytes,
    canonical_object_bytes,
    definition_hash,
    election_hash,
)
from election.model import Election
from election.serialize import election_to_json
from tests.test_definition import PROPERTY, SMALL, mutated_docs, small_doc, valid_docs


def _outcome(source: Any) -> Election | tuple[str, str]:
    try:
        return load_election(source)
    except DefinitionError as exc:
        return exc.path, str(exc)


Outcome = Election | tuple[str, str]


def _both(doc: Any) -> tuple[Outcome, Outcome] | None:
    """The outcome read from JSON text (the quick paths) and from plain dicts (the full
    checks everywhere); None for a document that is no JSON object."""
    if not isinstance(doc, dict):  # a string would be read as a file path, not a document
        return None
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    plain = json.loads(text)
    return _outcome(text), _outcome(plain)  # JSON text (a str starting with "{") is parsed


@settings(PROPERTY, max_examples=300)
@given(mutated_docs())
def test_quick_paths_equal_full_checks_on_mutations(doc: Any) -> None:
    both = _both(doc)
    assume(both is not None)
    assert both is not None
    quick, full = both
    assert quick == full


EDIT_VALUES: list[Any] = [
    None, -1, 0, 3, True, "x", "", [], {}, {"ky": "a"}, {"ky": "", "ru": ""},
    {"ky": "", "ru": "x"}, {"ky": "x", "ru": ""}, {"ky": "a\u0001", "ru": "b"},
    {"ky": "a", "ru": 1}, {"ky": "a", "ru": "b", "en": "c"},
    {"district": {"ru": 2}}, {"local": {"ky": -1}}, {"party-list": {"ky": -1, "ru": 2}},
    {"party-list": {"ky": True}}, {"party-list": {"ky": 1, "ru": 2}},
    {"district": {"en": 1}}, {"party-list": []},
    {"party-list": None}, {"party-list": {"ky": None}},  # JSON null is present, not absent
]


def test_quick_paths_equal_full_checks_on_every_edit() -> None:
    """Every member kind the quick paths take (objects, texts, ballots, integers,
    booleans, references), each replaced by each value: the same outcome both ways."""
    edited = 0
    for part, key in [("stations", k) for k in ("ballots", "voters", "district", "council",
                                                  "abroad", "tec", "number")] + [
            ("parties", k) for k in ("name", "id", "candidates")] + [
            ("districts", k) for k in ("name", "number", "against_all", "region")] + [
            ("candidates", k) for k in ("surname", "patronymic", "withdrawn", "nominated_by")]:
        for index in (0, 1):
            for value in EDIT_VALUES:
                doc = json.loads(json.dumps(small_doc()))
                items = {"stations": doc["geography"]["stations"],
                         "parties": doc["party_list"]["parties"],
                         "districts": doc["districts"],
                         "candidates": doc["districts"][0]["candidates"]}[part]
                items[index][key] = value
                both = _both(doc)
                assert both is not None
                quick, full = both
                assert quick == full, (part, index, key, value)
                edited += 1
    assert edited == 18 * 2 * len(EDIT_VALUES)


def test_national_definition_reads_the_same_both_ways() -> None:
    election = default_election()
    text = election_json_text(election)
    quick = load_election(text.encode("utf-8"))
    full = load_election(json.loads(text))
    assert quick == full == election
    assert definition_hash(quick) == definition_hash(election)
    assert election_hash(quick) == election_hash(election)


def test_duplicate_key_is_named_on_the_quick_path() -> None:
    text = json.dumps(small_doc(), ensure_ascii=False)
    bad = text.replace('"voters": ', '"voters": 1, "voters": ', 1)
    outcome = _outcome(bad.encode("utf-8"))
    assert outcome == ("$.geography.stations[0].voters", "$.geography.stations[0].voters: "
                       "duplicate key")


# --- the hashes: the shared members serialised once ------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=12)


@settings(PROPERTY, max_examples=200)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=6))
def test_object_from_members_is_canonical_bytes(doc: dict[str, Any]) -> None:
    members = {key: canonical_bytes(value) for key, value in doc.items()}
    assert canonical_object_bytes(members) == canonical_bytes(doc)


def _hashes_the_plain_way(election: Election) -> tuple[str, str]:
    """The two hashes as the module docstring defines them, one whole document each."""
    doc = election_to_json(election)
    return (hashlib.sha256(canonical_bytes(doc)).hexdigest(),
            hashlib.sha256(canonical_bytes(_strip_withdrawals(doc))).hexdigest())


@settings(PROPERTY, max_examples=40)
@given(valid_docs())
def test_both_hashes_equal_the_plain_way(doc: dict[str, Any]) -> None:
    election = load_election(doc)
    assert (definition_hash(election), election_hash(election)) == _hashes_the_plain_way(
        election)


def test_national_hashes_equal_the_plain_way() -> None:
    election = default_election()
    assert (definition_hash(election), election_hash(election)) == _hashes_the_plain_way(
        election)
    assert SMALL.party_list.parties[0].withdrawn_positions  # the two hashes differ here
    assert (definition_hash(SMALL), election_hash(SMALL)) == _hashes_the_plain_way(SMALL)
    assert definition_hash(SMALL) != election_hash(SMALL)
