"""Loading and validating election definitions (``election.definition``).

Table tests pin the JSON path named by each validation rule; hypothesis
properties (derandomized, so every run is the same) check that no mutation of
a valid document escapes as anything but DefinitionError, that the hashes
ignore key order and whitespace, and that load/serialize round-trips.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from election.definition import dump_election, election_json_text, load_election
from election.errors import DefinitionError, PcosError
from election.hashing import definition_hash, election_hash
from election.model import BallotKind, Election, Language
from election.serialize import election_to_json

PROPERTY = settings(derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# --- a small valid document, in the canonical form election_to_json writes ------------


def _t(ky: str, ru: str | None = None) -> dict[str, str]:
    return {"ky": ky, "ru": ky if ru is None else ru}


def _person(surname: str, first: str, father: str, female: bool = False) -> dict[str, Any]:
    ru_surname = surname.replace("ө", "о").replace("ү", "у").replace("ң", "н")
    return {
        "surname": _t(surname, ru_surname),
        "first_name": _t(first),
        "patronymic": _t(f"{father} {'кызы' if female else 'уулу'}",
                         f"{father}{'овна' if female else 'ович'}"),
    }


def _candidate(cid: str, surname: str, first: str, *, withdrawn: bool = False,
               nominated_by: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": cid, **_person(surname, first, "Асан"), "withdrawn": withdrawn,
            "nominated_by": nominated_by}


def small_doc() -> dict[str, Any]:
    """3 parties, 2 districts, 1 council, 3 regions, 3 stations (one abroad)."""
    return {
        "format": "pcos-kg/election",
        "format_version": 1,
        "election_id": "test-2021",
        "name": _t("Сынак шайлоосу", "Тестовые выборы"),
        "date": "2021-11-28",
        "rules": "kg-2021",
        "party_list": {
            "against_all": True,
            "preference_squares": 5,
            "parties": [
                {"id": "P01", "name": _t("Ата-Мекен"),
                 "candidates": [_person("Өмүрбеков", "Бакыт", "Асан"),
                                _person("Жапарова", "Айгүл", "Үсөн", female=True),
                                _person("Садыков", "Жеңиш", "Мамыт")],
                 "withdrawn_positions": [2]},
                {"id": "P02", "name": _t("Бүтүн Кыргызстан", "Бутун Кыргызстан"),
                 "candidates": [_person("Касымов", "Нурлан", "Кадыр"),
                                _person("Ташматова", "Бермет", "Бакир", female=True)],
                 "withdrawn_positions": []},
                {"id": "P03", "name": _t("Ата-Журт Кыргызстан"),
                 "candidates": [_person("Асанов", "Улан", "Темир")],
                 "withdrawn_positions": []},
            ],
        },
        "districts": [
            {"number": 1, "name": _t("Кара-Суу району", "Карасуйский район"), "region": "osh",
             "against_all": True,
             "candidates": [_candidate("D01-01", "Төлөнов", "Азамат"),
                            _candidate("D01-02", "Мамытов", "Эрлан", withdrawn=True,
                                       nominated_by=_t("Ата-Мекен"))]},
            {"number": 2, "name": _t("Сокулук району", "Сокулукский район"), "region": "chui",
             "against_all": True,
             "candidates": [_candidate("D02-01", "Бакиров", "Талант")]},
        ],
        "local_councils": [
            {"number": 1, "name": _t("Кара-Суу шаардык кеңеши", "Кара-Суйский городской кенеш"),
             "region": "osh", "against_all": True,
             "candidates": [_candidate("L01-01", "Үсөнов", "Мелис")],
             "id": "kara-suu"},
        ],
        "geography": {
            "regions": [
                {"id": "osh", "name": _t("Ош облусу", "Ошская область"), "abroad": False},
                {"id": "chui", "name": _t("Чүй облусу", "Чуйская область"), "abroad": False},
                {"id": "abroad", "name": _t("Чет өлкөлөр", "Зарубежье"), "abroad": True},
            ],
            "tecs": [
                {"id": "tec-osh-kara-suu", "name": _t("Кара-Суу району", "Карасуйский район"),
                 "region": "osh"},
                {"id": "tec-chui-sokuluk", "name": _t("Сокулук району", "Сокулукский район"),
                 "region": "chui"},
                {"id": "tec-abroad", "name": _t("Чет өлкөлөр", "Зарубежье"), "region": "abroad"},
            ],
            "stations": [
                {"number": "7001", "region": "osh", "tec": "tec-osh-kara-suu", "district": 1,
                 "council": "kara-suu", "voters": 1000, "abroad": False,
                 "ballots": {"party-list": {"ky": 900, "ru": 100},
                             "district": {"ky": 900, "ru": 100},
                             "local": {"ky": 900, "ru": 100}}},
                {"number": "2001", "region": "chui", "tec": "tec-chui-sokuluk", "district": 2,
                 "council": None, "voters": 500, "abroad": False,
                 "ballots": {"party-list": {"ky": 250, "ru": 250},
                             "district": {"ky": 250, "ru": 250}}},
                {"number": "9001", "region": "abroad", "tec": "tec-abroad", "district": None,
                 "council": None, "voters": 300, "abroad": True,
                 "ballots": {"party-list": {"ky": 150, "ru": 150}}},
            ],
        },
    }


# --- mutation helpers -------------------------------------------------------------------

Key = str | int


def _parent(doc: Any, where: tuple[Key, ...]) -> Any:
    node = doc
    for k in where[:-1]:
        node = node[k]
    return node


def set_(where: tuple[Key, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        _parent(doc, where)[where[-1]] = value
    return apply


def del_(where: tuple[Key, ...]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        del _parent(doc, where)[where[-1]]
    return apply


def _add_second_council(doc: dict[str, Any]) -> None:
    second = copy.deepcopy(doc["local_councils"][0])
    second["number"] = 2
    second["candidates"][0]["id"] = "L02-01"
    doc["local_councils"].append(second)


ST = ("geography", "stations")
P0 = ("party_list", "parties", 0)
D0 = ("districts", 0)

# (mutation, JSON path named in the error, fragment of the problem)
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # document and format
    ("format", set_(("format",), "pcos-kg/layout"), "$.format", 'expected "pcos-kg/election"'),
    ("format missing", del_(("format",)), "$.format", "missing required key"),
    ("format version", set_(("format_version",), 2), "$.format_version",
     "unsupported version 2"),
    ("format version bool", set_(("format_version",), True), "$.format_version",
     "expected an integer, got true"),
    ("unknown top key", set_(("colour",), "blue"), "$.colour", "unknown key"),
    ("missing top key", del_(("election_id",)), "$.election_id", "missing required key"),
    ("missing geography", del_(("geography",)), "$.geography", "missing required key"),
    ("election id type", set_(("election_id",), 2021), "$.election_id", "an identifier"),
    ("election id space", set_(("election_id",), "kg 2021"), "$.election_id", "an identifier"),
    # texts
    ("empty name", set_(("name", "ky"), ""), "$.name.ky", "expected a non-empty string"),
    ("blank name", set_(("name", "ru"), "   "), "$.name.ru", "expected a non-empty string"),
    ("name not text", set_(("name",), "Шайлоо"), "$.name", "expected an object"),
    ("name missing ru", del_(("name", "ru")), "$.name.ru", "missing required key"),
    ("name unknown language", set_(("name", "en"), "Election"), "$.name.en", "unknown key"),
    ("control character", set_(("name", "ky"), "Шайлоо\n2021"), "$.name.ky",
     "control character U+000A"),
    ("lone surrogate", set_(("name", "ru"), "Выборы \ud800"), "$.name.ru",
     "unpaired surrogate"),
    # date and rules
    ("impossible date", set_(("date",), "2021-02-30"), "$.date", "not a valid date"),
    ("dotted date", set_(("date",), "28.11.2021"), "$.date", "expected a date as YYYY-MM-DD"),
    ("compact date", set_(("date",), "20211128"), "$.date", "expected a date as YYYY-MM-DD"),
    ("date type", set_(("date",), 20211128), "$.date", "expected a date"),
    ("empty rules", set_(("rules",), ""), "$.rules", "expected a non-empty string"),
    ("rules type", set_(("rules",), ["kg-2021"]), "$.rules", "got an array"),
    # party list
    ("party list type", set_(("party_list",), []), "$.party_list", "expected an object"),
    ("squares zero", set_(("party_list", "preference_squares"), 0),
     "$.party_list.preference_squares", "an integer in 1..99"),
    ("squares 100", set_(("party_list", "preference_squares"), 100),
     "$.party_list.preference_squares", "an integer in 1..99"),
    ("squares bool", set_(("party_list", "preference_squares"), True),
     "$.party_list.preference_squares", "expected an integer, got true"),
    ("squares float", set_(("party_list", "preference_squares"), 54.0),
     "$.party_list.preference_squares", "expected an integer, got number 54.0"),
    ("against all int", set_(("party_list", "against_all"), 1), "$.party_list.against_all",
     "expected true or false, got integer 1"),
    ("no parties", set_(("party_list", "parties"), []), "$.party_list.parties",
     "non-empty array"),
    ("party not object", set_(("party_list", "parties", 1), "P02"),
     "$.party_list.parties[1]", "expected an object"),
    ("duplicate party", set_(("party_list", "parties", 2, "id"), "P01"),
     "$.party_list.parties[2].id", "duplicate party id 'P01'"),
    ("reserved party id", set_((*P0, "id"), "against-all"), "$.party_list.parties[0].id",
     "reserved"),
    ("party unknown key", set_((*P0, "colour"), "red"), "$.party_list.parties[0].colour",
     "unknown key"),
    ("party no candidates", set_((*P0, "candidates"), []),
     "$.party_list.parties[0].candidates", "non-empty array"),
    ("withdrawn beyond list", set_((*P0, "withdrawn_positions"), [4]),
     "$.party_list.parties[0].withdrawn_positions[0]", "not on the list (positions 1..3)"),
    ("withdrawn zero", set_((*P0, "withdrawn_positions"), [1, 0]),
     "$.party_list.parties[0].withdrawn_positions[1]", "not on the list"),
    ("withdrawn twice", set_((*P0, "withdrawn_positions"), [2, 2]),
     "$.party_list.parties[0].withdrawn_positions[1]", "listed twice"),
    ("withdrawn bool", set_((*P0, "withdrawn_positions"), [True]),
     "$.party_list.parties[0].withdrawn_positions[0]", "expected an integer, got true"),
    ("withdrawn not array", set_((*P0, "withdrawn_positions"), 2),
     "$.party_list.parties[0].withdrawn_positions", "expected an array"),
    ("list surname empty", set_((*P0, "candidates", 1, "surname", "ky"), ""),
     "$.party_list.parties[0].candidates[1].surname.ky", "expected a non-empty string"),
    ("list first name missing", del_((*P0, "candidates", 2, "first_name")),
     "$.party_list.parties[0].candidates[2].first_name", "missing required key"),
    ("patronymic in one language", set_((*P0, "candidates", 0, "patronymic", "ru"), ""),
     "$.party_list.parties[0].candidates[0].patronymic.ru", "as in the other language"),
    ("list candidate id", set_((*P0, "candidates", 0, "id"), "P01-01"),
     "$.party_list.parties[0].candidates[0].id", "unknown key"),
    # districts and candidates
    ("districts type", set_(("districts",), {}), "$.districts", "expected an array"),
    ("district id key", set_((*D0, "id"), "district-01"), "$.districts[0].id", "unknown key"),
    ("district number dup", set_(("districts", 1, "number"), 1), "$.districts[1].number",
     "duplicate district number 1"),
    ("district number zero", set_((*D0, "number"), 0), "$.districts[0].number",
     "an integer >= 1"),
    ("district number string", set_((*D0, "number"), "1"), "$.districts[0].number",
     'expected an integer, got string "1"'),
    ("district region", set_((*D0, "region"), "fergana"), "$.districts[0].region",
     "unknown region 'fergana'"),
    ("district no candidates", set_((*D0, "candidates"), []), "$.districts[0].candidates",
     "non-empty array"),
    ("candidate id dup", set_(("districts", 1, "candidates", 0, "id"), "D01-01"),
     "$.districts[1].candidates[0].id", "duplicate candidate id 'D01-01'"),
    ("candidate id dup across kinds", set_(("local_councils", 0, "candidates", 0, "id"),
                                            "D02-01"),
     "$.local_councils[0].candidates[0].id", "duplicate candidate id"),
    ("candidate reserved id", set_((*D0, "candidates", 0, "id"), "against-all"),
     "$.districts[0].candidates[0].id", "reserved"),
    ("candidate withdrawn type", set_((*D0, "candidates", 0, "withdrawn"), "yes"),
     "$.districts[0].candidates[0].withdrawn", "expected true or false"),
    ("candidate surname ru", set_((*D0, "candidates", 1, "surname", "ru"), None),
     "$.districts[0].candidates[1].surname.ru", "expected a non-empty string, got null"),
    ("nominated_by half", set_((*D0, "candidates", 0, "nominated_by"), {"ky": "Ата-Мекен"}),
     "$.districts[0].candidates[0].nominated_by.ru", "missing required key"),
    ("nominated_by type", set_((*D0, "candidates", 0, "nominated_by"), "Ата-Мекен"),
     "$.districts[0].candidates[0].nominated_by", "expected an object"),
    # local councils
    ("council id shape", set_(("local_councils", 0, "id"), "Kara Suu"),
     "$.local_councils[0].id", "an identifier"),
    ("council id prefix", set_(("local_councils", 0, "id"), "council-kara-suu"),
     "$.local_councils[0].id", "must not start with 'council-'"),
    ("council id missing", del_(("local_councils", 0, "id")), "$.local_councils[0].id",
     "missing required key"),
    ("council id dup", _add_second_council, "$.local_councils[1].id",
     "duplicate council id 'kara-suu'"),
    ("council region", set_(("local_councils", 0, "region"), "naryn"),
     "$.local_councils[0].region", "unknown region 'naryn'"),
    # geography
    ("region dup", set_(("geography", "regions", 1, "id"), "osh"),
     "$.geography.regions[1].id", "duplicate region id 'osh'"),
    ("region abroad type", set_(("geography", "regions", 2, "abroad"), "yes"),
     "$.geography.regions[2].abroad", "expected true or false"),
    ("tec dup", set_(("geography", "tecs", 1, "id"), "tec-osh-kara-suu"),
     "$.geography.tecs[1].id", "duplicate TEC id"),
    ("tec region", set_(("geography", "tecs", 0, "region"), "fergana"),
     "$.geography.tecs[0].region", "unknown region 'fergana'"),
    ("no stations", set_((*ST,), []), "$.geography.stations", "non-empty array"),
    ("station dup", set_((*ST, 1, "number"), "7001"), "$.geography.stations[1].number",
     "duplicate station number '7001'"),
    ("station number int", set_((*ST, 0, "number"), 7001), "$.geography.stations[0].number",
     "got integer 7001"),
    ("station region", set_((*ST, 0, "region"), "fergana"), "$.geography.stations[0].region",
     "unknown region 'fergana'"),
    ("station tec", set_((*ST, 0, "tec"), "tec-nowhere"), "$.geography.stations[0].tec",
     "unknown TEC 'tec-nowhere'"),
    ("station tec of other region", set_((*ST, 0, "tec"), "tec-chui-sokuluk"),
     "$.geography.stations[0].tec", "belongs to region 'chui', not 'osh'"),
    ("station district", set_((*ST, 0, "district"), 99), "$.geography.stations[0].district",
     "unknown district 99"),
    ("station district of other region", set_((*ST, 0, "district"), 2),
     "$.geography.stations[0].district", "district 2 is in region 'chui', not 'osh'"),
    ("station district bool", set_((*ST, 0, "district"), True),
     "$.geography.stations[0].district", "expected an integer, got true"),
    ("station district missing", del_((*ST, 0, "district")),
     "$.geography.stations[0].district", "missing required key"),
    ("station council", set_((*ST, 0, "council"), "kerben"), "$.geography.stations[0].council",
     "unknown council 'kerben'"),
    ("station council of other region", set_((*ST, 1, "council"), "kara-suu"),
     "$.geography.stations[1].council", "council 'kara-suu' is in region 'osh'"),
    ("voters negative", set_((*ST, 0, "voters"), -1), "$.geography.stations[0].voters",
     "a non-negative integer"),
    ("voters float", set_((*ST, 0, "voters"), 1000.5), "$.geography.stations[0].voters",
     "expected an integer, got number"),
    ("voters bool", set_((*ST, 0, "voters"), False), "$.geography.stations[0].voters",
     "expected an integer, got false"),
    ("voters missing", del_((*ST, 2, "voters")), "$.geography.stations[2].voters",
     "missing required key"),
    ("abroad in country", set_((*ST, 0, "abroad"), True), "$.geography.stations[0].abroad",
     "region 'osh' is not abroad"),
    ("in country abroad", set_((*ST, 2, "abroad"), False), "$.geography.stations[2].abroad",
     "region 'abroad' is abroad"),
    ("station unknown key", set_((*ST, 2, "scanners"), 2), "$.geography.stations[2].scanners",
     "unknown key"),
    ("ballot count negative", set_((*ST, 0, "ballots", "party-list", "ky"), -5),
     '$.geography.stations[0].ballots["party-list"].ky', "a non-negative integer"),
    ("ballot count string", set_((*ST, 0, "ballots", "local", "ru"), "100"),
     "$.geography.stations[0].ballots.local.ru", "expected an integer"),
    ("ballot kind", set_((*ST, 0, "ballots", "referendum"), {"ky": 1}),
     "$.geography.stations[0].ballots.referendum", "unknown key"),
    ("ballot language", set_((*ST, 0, "ballots", "district", "uz"), 10),
     "$.geography.stations[0].ballots.district.uz", "unknown key"),
    ("district ballots abroad", set_((*ST, 2, "ballots", "district"), {"ky": 1}),
     "$.geography.stations[2].ballots.district", "station with no district"),
    ("local ballots without council", set_((*ST, 1, "ballots", "local"), {"ru": 1}),
     "$.geography.stations[1].ballots.local", "station with no council"),
    ("ballots type", set_((*ST, 1, "ballots"), []), "$.geography.stations[1].ballots",
     "expected an object"),
]


@pytest.mark.parametrize(("mutate", "path", "problem"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_rule_names_the_path(mutate: Callable[[dict[str, Any]], None], path: str,
                                  problem: str) -> None:
    doc = small_doc()
    mutate(doc)
    with pytest.raises(DefinitionError) as info:
        load_election(doc)
    assert info.value.path == path
    assert problem in info.value.problem
    assert str(info.value) == f"{path}: {info.value.problem}"


# --- positive cases ----------------------------------------------------------------


def test_small_document_loads() -> None:
    e = load_election(small_doc())
    assert e.election_id == "test-2021"
    assert [p.id for p in e.party_list.parties] == ["P01", "P02", "P03"]
    assert e.party_list.party("P01").withdrawn_positions == frozenset({2})
    assert e.party_list.preference_squares == 5
    assert [d.id for d in e.districts] == ["district-01", "district-02"]
    assert e.district(1).candidate("D01-02").withdrawn
    assert e.council("kara-suu").id == "council-kara-suu"
    assert e.station("9001").district is None and e.station("9001").abroad
    assert e.station("7001").contest_ids() == ("party-list", "district-01", "council-kara-suu")
    assert e.voters == 1800


def test_serialize_of_load_is_the_document() -> None:
    doc = small_doc()
    assert election_to_json(load_election(doc)) == doc


def test_input_document_is_not_modified() -> None:
    doc = small_doc()
    before = copy.deepcopy(doc)
    load_election(doc)
    doc["geography"]["stations"][0]["district"] = 99
    with pytest.raises(DefinitionError):
        load_election(doc)
    before["geography"]["stations"][0]["district"] = 99
    assert doc == before


def test_optional_keys_take_model_defaults() -> None:
    doc = small_doc()
    full = load_election(doc)
    del doc["party_list"]["against_all"], doc["party_list"]["preference_squares"]
    del doc["local_councils"]
    for party in doc["party_list"]["parties"]:
        del party["withdrawn_positions"]
    for district in doc["districts"]:
        del district["region"], district["against_all"]
        for cand in district["candidates"]:
            del cand["withdrawn"], cand["nominated_by"]
    for region in doc["geography"]["regions"][:2]:
        del region["abroad"]
    for station in doc["geography"]["stations"]:
        station.pop("council")
        station.pop("ballots")
    e = load_election(doc)
    assert e.party_list.against_all and e.party_list.preference_squares == 54
    assert e.councils == ()
    assert all(not p.withdrawn_positions for p in e.party_list.parties)
    assert all(d.region is None and d.against_all for d in e.districts)
    assert not any(c.withdrawn or c.nominated_by for d in e.districts for c in d.candidates)
    assert e.regions == full.regions
    assert all(s.council is None and s.ballots == () for s in e.stations)


def test_patronymic_may_be_empty_in_both_languages() -> None:
    doc = small_doc()
    doc["party_list"]["parties"][0]["candidates"][0]["patronymic"] = {"ky": "", "ru": ""}
    e = load_election(doc)
    name = e.party_list.parties[0].candidates[0]
    assert name.full(Language.KY) == "Өмүрбеков Бакыт"


def test_ballots_are_kept_in_canonical_order() -> None:
    doc = small_doc()
    ballots = doc["geography"]["stations"][0]["ballots"]
    doc["geography"]["stations"][0]["ballots"] = {
        "local": {"ru": 100, "ky": 900}, "party-list": ballots["party-list"],
        "district": {"ru": 100, "ky": 900},
    }
    e = load_election(doc)
    assert e == load_election(small_doc())
    got = [(b.kind, b.language) for b in e.station("7001").ballots]
    assert got == [(k, lang) for k in BallotKind for lang in Language]


# --- JSON text, files and sources ------------------------------------------------------


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2)


def test_sources_path_str_bytes_and_text(tmp_path: Path) -> None:
    expected = load_election(small_doc())
    file = tmp_path / "election.json"
    file.write_text(_text(small_doc()), encoding="utf-8")
    assert load_election(file) == expected
    assert load_election(str(file)) == expected
    assert load_election(file.read_bytes()) == expected
    assert load_election(_text(small_doc())) == expected
    assert load_election(b"\xef\xbb\xbf" + file.read_bytes()) == expected  # UTF-8 BOM


def test_invalid_json_names_line_and_column() -> None:
    text = '{\n  "format": "pcos-kg/election",\n  "format_version": 1,,\n}'
    with pytest.raises(DefinitionError) as info:
        load_election(text.encode())
    assert info.value.path == "$"
    assert "invalid JSON at line 3, column 23" in info.value.problem


def test_truncated_file_is_invalid_json() -> None:
    data = _text(small_doc()).encode()[:-40]
    with pytest.raises(DefinitionError) as info:
        load_election(data)
    assert info.value.path == "$" and "invalid JSON at line" in info.value.problem


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "invalid JSON at line 1, column 1"),
    (b"[]", "expected an object, got an array"),
    (b'"pcos"', "expected an object"),
    (b'{"format": NaN}', "NaN is not a JSON value"),
    (b'{"format": "pcos-kg/election", "x": Infinity}', "Infinity is not a JSON value"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_bad_json_documents(data: bytes, problem: str) -> None:
    with pytest.raises(DefinitionError) as info:
        load_election(data)
    assert info.value.path == "$"
    assert problem in info.value.problem


def test_duplicate_key_names_its_path() -> None:
    text = _text(small_doc()).replace('"voters": 500,', '"voters": 500, "voters": 600,')
    with pytest.raises(DefinitionError) as info:
        load_election(text.encode())
    assert info.value.path == "$.geography.stations[1].voters"
    assert info.value.problem == "duplicate key"


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-election.json"
    with pytest.raises(DefinitionError) as info:
        load_election(missing)
    assert info.value.path == "$"
    assert "no-such-election.json" in info.value.problem


def test_directory_is_not_a_definition(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        load_election(tmp_path)
    assert str(tmp_path) in info.value.problem


def test_dump_and_load(tmp_path: Path) -> None:
    e = load_election(small_doc())
    out = tmp_path / "out.json"
    out.write_text("old content", encoding="utf-8")
    dump_election(e, out)  # replaces an existing file
    assert load_election(out) == e
    assert out.read_text(encoding="utf-8") == election_json_text(e)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left
    assert out.stat().st_mode & 0o777 == 0o644


def test_dump_creates_missing_directories(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.json"
    dump_election(load_election(small_doc()), target)
    assert load_election(target) == load_election(small_doc())


def test_dump_under_a_regular_file_is_a_pcos_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PcosError, match="cannot write election file"):
        dump_election(load_election(small_doc()), tmp_path / "afile" / "e.json")


def test_pretty_text_is_the_same_json() -> None:
    doc = small_doc()
    text = election_json_text(load_election(doc))
    assert json.loads(text) == doc
    assert max(len(line) for line in text.splitlines()) <= 120


# --- properties -----------------------------------------------------------------------


def _all_paths(node: Any, prefix: tuple[Key, ...] = ()) -> list[tuple[Key, ...]]:
    paths = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            paths += _all_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            paths += _all_paths(v, (*prefix, i))
    return paths


SMALL_PATHS = _all_paths(small_doc())

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-3, max_value=120),
    st.integers(), st.floats(allow_nan=False), st.text(max_size=6),
    st.sampled_from(["", " ", "P01", "D01-01", "kara-suu", "osh", "abroad", "tec-abroad",
                     "7001", "2021-11-28", "against-all", "party-list", "ky", "ru",
                     "Өмүр\x07", "\ud800"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["ky", "ru", "id", "x"]), inner,
                                            max_size=3)),
    max_leaves=6,
)


@st.composite
def mutated_docs(draw: st.DrawFn) -> Any:
    """The small document with 1..3 random edits; the root itself may be replaced."""
    doc: Any = small_doc()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _all_paths(doc)
        where = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "add", "duplicate", "swap"]))
        if not where:
            doc = draw(json_values) if op == "replace" else doc
            if not isinstance(doc, dict):
                return doc
            continue
        parent = _parent(doc, where)
        key = where[-1]
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "delete":
            del parent[key]
        elif op == "add":
            node = parent[key]
            if isinstance(node, dict):
                node[draw(st.sampled_from(["x", "id", "ky", "abroad"]))] = draw(json_values)
            elif isinstance(node, list):
                node.append(draw(json_values))
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(int(key), copy.deepcopy(parent[int(key)]))
        elif op == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(min_value=0, max_value=len(parent) - 1))
            parent[int(key)], parent[other] = parent[other], parent[int(key)]
    return doc


def _load_or_error(source: Any) -> Election | DefinitionError:
    try:
        return load_election(source)
    except DefinitionError as exc:
        assert exc.path.startswith("$")
        return exc


@settings(PROPERTY, max_examples=500)
@given(mutated_docs())
def test_mutations_load_or_raise_definition_error(doc: Any) -> None:
    result = _load_or_error(doc)
    event("loaded" if isinstance(result, Election) else "refused")
    if isinstance(result, Election):
        # Whatever loads can be hashed, serialized and loaded back unchanged.
        assert len(election_hash(result)) == 64 and len(definition_hash(result)) == 64
        again = load_election(election_to_json(result))
        assert again == result
        assert definition_hash(again) == definition_hash(result)


SMALL_TEXT = _text(small_doc()).encode("utf-8")


@settings(PROPERTY, max_examples=500)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(SMALL_TEXT) - 1),
                          st.sampled_from([b"", b"0", b"-", b'"', b",", b"}", b"]", b"\\",
                                           b"\xd0", b"null", b"true", b" ", b"9"])),
                min_size=1, max_size=4))
def test_text_mutations_load_or_raise_definition_error(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(SMALL_TEXT)
    for pos, replacement in edits:
        pos = min(pos, len(data) - 1)
        data[pos:pos + 1] = replacement
    result = _load_or_error(bytes(data))
    event("loaded" if isinstance(result, Election) else "refused")


def _reorder(node: Any, rng: random.Random) -> Any:
    if isinstance(node, dict):
        items = list(node.items())
        rng.shuffle(items)
        return {k: _reorder(v, rng) for k, v in items}
    if isinstance(node, list):
        return [_reorder(v, rng) for v in node]
    return node


SMALL = load_election(small_doc())


@settings(PROPERTY, max_examples=50)
@given(st.randoms(use_true_random=False),
       st.sampled_from([None, 0, 1, 2, 4, "\t"]),
       st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]),
       st.booleans())
def test_hash_ignores_key_order_and_whitespace(rng: random.Random, indent: int | str | None,
                                               separators: tuple[str, str],
                                               ascii_only: bool) -> None:
    text = json.dumps(_reorder(small_doc(), rng), indent=indent, separators=separators,
                      ensure_ascii=ascii_only)
    e = load_election(("\n \t" + text + "\r\n").encode("utf-8"))
    assert e == SMALL
    assert election_hash(e) == election_hash(SMALL)
    assert definition_hash(e) == definition_hash(SMALL)


def test_withdrawal_changes_definition_hash_only() -> None:
    doc = small_doc()
    doc["districts"][1]["candidates"][0]["withdrawn"] = True
    e = load_election(doc)
    assert election_hash(e) == election_hash(SMALL)
    assert definition_hash(e) != definition_hash(SMALL)


def test_definition_hash_is_sha256_of_the_canonical_document() -> None:
    """Spelled out here: sorted keys, no whitespace, UTF-8, over the whole parsed document."""
    import hashlib

    text = json.dumps(election_to_json(SMALL), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    assert definition_hash(SMALL) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_withdrawn_list_position_keeps_the_election_identity() -> None:
    doc = small_doc()
    party = doc["party_list"]["parties"][0]
    party["withdrawn_positions"] = sorted({*party.get("withdrawn_positions", []), 1})
    e = load_election(doc)
    assert election_hash(e) == election_hash(SMALL)
    assert definition_hash(e) != definition_hash(SMALL)


def test_any_change_to_what_is_printed_changes_the_election_hash() -> None:
    renamed = small_doc()
    renamed["districts"][0]["candidates"][0]["surname"]["ky"] += "в"
    reordered = small_doc()
    reordered["party_list"]["parties"].reverse()
    for doc in (renamed, reordered):
        assert election_hash(load_election(doc)) != election_hash(SMALL)


names_text = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяөүңАБӨҮҢ -", min_size=1,
                     max_size=12).filter(str.strip)


@st.composite
def valid_docs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid documents of varied shape, for the round-trip property."""
    doc = small_doc()
    parties = doc["party_list"]["parties"]
    for party in parties:
        size = draw(st.integers(min_value=1, max_value=6))
        party["candidates"] = [
            {k: {"ky": draw(names_text), "ru": draw(names_text)}
             for k in ("surname", "first_name", "patronymic")}
            for _ in range(size)
        ]
        party["withdrawn_positions"] = sorted(draw(st.sets(st.integers(1, size), max_size=2)))
    doc["party_list"]["preference_squares"] = draw(st.integers(1, 99))
    doc["party_list"]["against_all"] = draw(st.booleans())
    doc["name"] = {"ky": draw(names_text), "ru": draw(names_text)}
    for contest in (*doc["districts"], *doc["local_councils"]):
        contest["against_all"] = draw(st.booleans())
        for cand in contest["candidates"]:
            cand["withdrawn"] = draw(st.booleans())
            cand["nominated_by"] = draw(st.one_of(st.none(), st.just(_t("Ата-Мекен"))))
    for station in doc["geography"]["stations"]:
        station["voters"] = draw(st.integers(0, 10**6))
        for per_lang in station["ballots"].values():
            for lang in list(per_lang):
                per_lang[lang] = draw(st.integers(0, 10**6))
    return doc


@PROPERTY
@given(valid_docs())
def test_round_trip(doc: dict[str, Any]) -> None:
    e = load_election(doc)
    assert election_to_json(e) == doc
    assert load_election(election_to_json(e)) == e
    assert load_election(election_json_text(e).encode("utf-8")) == e
