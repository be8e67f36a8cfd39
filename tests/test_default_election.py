"""The embedded 2021-shaped default election (``election.default``)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from election import names
from election.default import REGION_BALLOTS, default_election, largest_remainder
from election.definition import load_election
from election.hashing import definition_hash, election_hash
from election.model import BallotKind, Election, Language, PersonName
from election.serialize import election_to_json

REPO = Path(__file__).resolve().parents[1]
IN_COUNTRY = ("bishkek", "chui", "issyk-kul", "naryn", "talas", "jalal-abad", "osh", "batken")
REGION_ORDER = (*IN_COUNTRY, "abroad")


@pytest.fixture(scope="module")
def e() -> Election:
    return default_election()


def _people(e: Election) -> list[PersonName]:
    return [*(c for p in e.party_list.parties for c in p.candidates),
            *(c.name for contest in e.candidate_contests() for c in contest.candidates)]


# --- identity ------------------------------------------------------------------------


def test_identity(e: Election) -> None:
    assert e.election_id == "kg-2021-jk"
    assert e.date.isoformat() == "2021-11-28"
    assert e.rules == "kg-2021"
    assert "Жогорку Кеңешинин депутаттарын шайлоо" in e.name.ky
    assert e.name.ru.startswith("Выборы депутатов Жогорку Кенеша")


def test_cached_and_deterministic(e: Election) -> None:
    assert default_election() is e
    fresh = default_election.__wrapped__()
    assert fresh is not e and fresh == e
    assert election_hash(fresh) == election_hash(e)


def test_independent_of_hash_seed(e: Election) -> None:
    code = ("from election.default import default_election as d;"
            "from election.hashing import definition_hash as h; print(h(d()))")
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == definition_hash(e)


def test_round_trip(e: Election) -> None:
    doc = election_to_json(e)
    loaded = load_election(doc)
    assert loaded == e
    assert election_hash(loaded) == election_hash(e)
    assert definition_hash(loaded) == definition_hash(e)
    assert election_to_json(loaded) == doc


# --- party list ---------------------------------------------------------------------


def test_parties_in_ballot_order(e: Election) -> None:
    parties = e.party_list.parties
    assert [p.id for p in parties] == [f"P{i:02d}" for i in range(1, 22)]
    assert parties[0].name.ky == "Ата-Мекен"
    assert (parties[1].name.ky, parties[1].name.ru) == ("Бүтүн Кыргызстан", "Бутун Кыргызстан")
    assert parties[7].name.ky == "Ынтымак" and parties[8].name.ky == "Ишеним"
    assert parties[17].name.ky == "Эл үмүтү"
    assert parties[20].name.ky == "Ата-Журт Кыргызстан"
    assert [p.name.ky for p in parties] == [ky for ky, _ru in names.PARTIES]
    assert e.party_list.against_all and e.party_list.preference_squares == 54


def test_list_lengths(e: Election) -> None:
    lengths = [p.list_length for p in e.party_list.parties]
    assert sum(lengths) == e.list_candidates == 1015
    assert all(36 <= n <= 54 for n in lengths)
    assert sum(n < 54 for n in lengths) >= 5 and 54 in lengths
    assert len(set(lengths)) >= 8  # varied


def test_list_withdrawals(e: Election) -> None:
    withdrawn = {p.id: p.withdrawn_positions for p in e.party_list.parties
                 if p.withdrawn_positions}
    assert withdrawn == {"P05": frozenset({7}), "P14": frozenset({3})}


# --- districts ----------------------------------------------------------------------


def test_districts(e: Election) -> None:
    assert [d.number for d in e.districts] == list(range(1, 37))
    assert [d.id for d in e.districts] == [f"district-{n:02d}" for n in range(1, 37)]
    assert all(d.kind is BallotKind.DISTRICT and d.against_all for d in e.districts)
    sizes = [len(d.candidates) for d in e.districts]
    assert sum(sizes) == e.district_candidates == 296
    assert all(4 <= n <= 16 for n in sizes)
    assert sum(n >= 11 for n in sizes) >= 3
    for d in e.districts:
        assert [c.id for c in d.candidates] == [f"D{d.number:02d}-{i:02d}"
                                                for i in range(1, len(d.candidates) + 1)]
        assert d.name.ky and d.name.ru


def test_districts_apportioned_to_regions_in_order(e: Election) -> None:
    regions = [d.region for d in e.districts]
    assert regions == sorted(regions, key=lambda r: REGION_ORDER.index(str(r)))
    voters = Counter[str]()
    for s in e.stations:
        voters[s.region] += s.voters
    expected = largest_remainder(36, [voters[r] for r in IN_COUNTRY])
    assert [regions.count(r) for r in IN_COUNTRY] == expected
    assert dict(zip(IN_COUNTRY, expected, strict=True)) == {
        "bishkek": 4, "chui": 6, "issyk-kul": 3, "naryn": 2, "talas": 2,
        "jalal-abad": 7, "osh": 9, "batken": 3,
    }


def test_only_district_12_candidate_4_withdrawn(e: Election) -> None:
    withdrawn = [c.id for contest in e.candidate_contests() for c in contest.candidates
                 if c.withdrawn]
    assert withdrawn == ["D12-04"]


def test_nominations(e: Election) -> None:
    candidates = [c for contest in e.candidate_contests() for c in contest.candidates]
    party_names = {p.name for p in e.party_list.parties}
    nominated = [c for c in candidates if c.nominated_by is not None]
    assert all(c.nominated_by in party_names for c in nominated)
    assert 0.5 <= len(nominated) / len(candidates) <= 0.7


# --- local councils -----------------------------------------------------------------


def test_councils(e: Election) -> None:
    assert [c.id for c in e.councils] == [
        "council-kara-suu", "council-kerben", "council-kyzyl-ozgorush",
        "council-toguz-torou", "council-terek-sai"]
    assert [c.number for c in e.councils] == [1, 2, 3, 4, 5]
    assert [c.region for c in e.councils] == ["osh", *["jalal-abad"] * 4]
    for c in e.councils:
        assert c.kind is BallotKind.LOCAL and c.against_all
        assert 6 <= len(c.candidates) <= 14
        assert [x.id for x in c.candidates] == [f"L{c.number:02d}-{i:02d}"
                                                for i in range(1, len(c.candidates) + 1)]
        covered = [s for s in e.stations if s.council == c.id.removeprefix("council-")]
        assert 5 <= len(covered) <= 15
        assert all(s.region == c.region for s in covered)


# --- geography ------------------------------------------------------------------------


def test_regions_and_tecs(e: Election) -> None:
    assert [r.id for r in e.regions] == list(REGION_ORDER)
    assert [r.id for r in e.regions if r.abroad] == ["abroad"]
    by_region = Counter(t.region for t in e.tecs)
    assert set(by_region) == set(REGION_ORDER) and by_region["abroad"] == 1
    assert all(by_region[r] >= 4 for r in IN_COUNTRY)
    assert all(t.id.startswith(f"tec-{t.region}") for t in e.tecs)
    assert "tec-osh-kara-suu" in {t.id for t in e.tecs}
    assert len({t.id for t in e.tecs}) == len(e.tecs)


def test_station_figures(e: Election) -> None:
    abroad = [s for s in e.stations if s.abroad]
    assert len(e.stations) == 2494 and len(abroad) == 59
    assert e.voters == 3_703_420
    assert sum(s.voters for s in abroad) == 84_128
    assert all(s.region == "abroad" and s.district is None for s in abroad)


def test_voters_and_stations_proportional_by_region(e: Election) -> None:
    voters, stations = Counter[str](), Counter[str]()
    for s in e.stations:
        voters[s.region] += s.voters
        stations[s.region] += 1
    in_voters = 3_703_420 - 84_128
    ballots = sum(REGION_BALLOTS.values())
    for r in IN_COUNTRY:  # largest remainder: within one of the exact quota
        assert abs(voters[r] - in_voters * REGION_BALLOTS[r] / ballots) < 1
        assert abs(stations[r] - 2435 * voters[r] / in_voters) < 1


def test_station_sizes_varied(e: Election) -> None:
    sizes = [s.voters for s in e.stations]
    assert all(300 <= v <= 3000 for v in sizes)
    assert statistics.pstdev(sizes) > 300


def test_station_numbers(e: Election) -> None:
    numbers = [s.number for s in e.stations]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"[1-9]\d{3}", n) for n in numbers)
    assert numbers == sorted(numbers)
    for s in e.stations:  # region blocks: the first digit is the region's place
        assert int(s.number[0]) == REGION_ORDER.index(s.region) + 1


def test_station_references(e: Election) -> None:
    tec_region = {t.id: t.region for t in e.tecs}
    for s in e.stations:
        assert tec_region[s.tec] == s.region
        if not s.abroad:
            assert s.district is not None and e.district(s.district).region == s.region
    assert all(any(s.district == d.number for s in e.stations) for d in e.districts)


def test_ballot_supply(e: Election) -> None:
    kyrgyz, total = Counter[str](), Counter[str]()
    for s in e.stations:
        kinds = {BallotKind.PARTY_LIST}
        if s.district is not None:
            kinds.add(BallotKind.DISTRICT)
        if s.council is not None:
            kinds.add(BallotKind.LOCAL)
        assert {b.kind for b in s.ballots} == kinds
        for kind in kinds:
            per_lang = {b.language: b.count for b in s.ballots if b.kind is kind}
            assert set(per_lang) == set(Language)
            assert sum(per_lang.values()) == s.voters
        party = {b.language: b.count for b in s.ballots if b.kind is BallotKind.PARTY_LIST}
        kyrgyz[s.region] += party[Language.KY]
        total[s.region] += s.voters
    share = {r: kyrgyz[r] / total[r] for r in REGION_ORDER}
    assert share["bishkek"] == pytest.approx(0.45, abs=0.02)
    assert share["chui"] == pytest.approx(0.55, abs=0.02)
    assert share["abroad"] == pytest.approx(0.5, abs=0.02)
    assert all(0.8 <= share[r] <= 0.95 for r in IN_COUNTRY[2:])


# --- names --------------------------------------------------------------------------


def test_person_names_in_both_languages(e: Election) -> None:
    people = _people(e)
    assert len(people) == 1015 + 296 + sum(len(c.candidates) for c in e.councils)
    kyrgyz = " ".join(p.full(Language.KY) for p in people)
    russian = " ".join(p.full(Language.RU) for p in people)
    assert all(letter in kyrgyz for letter in "өүң")
    assert not any(letter in russian for letter in "өүңӨҮҢ")
    for p in people:
        assert p.surname.ru == names.ru_spelling(p.surname.ky)
        assert p.first_name.ru == names.ru_spelling(p.first_name.ky)
        assert re.fullmatch(r"\w+ (уулу|кызы)", p.patronymic.ky)
        female = p.patronymic.ky.endswith("кызы")
        assert p.patronymic.ru.endswith("вна" if female else "вич")
        assert p.surname.ky.endswith("а") == female
    women = sum(p.patronymic.ky.endswith("кызы") for p in people) / len(people)
    assert 0.25 <= women <= 0.55


def test_ru_spelling() -> None:
    assert names.ru_spelling("Өмүрбек Жеңиш Үсөн") == "Омурбек Жениш Усон"
