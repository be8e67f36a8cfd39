"""The embedded default election, shaped on the 2021 Jogorku Kenesh elections.

Used whenever no definition file is given. The figures come from DESIGN.md
(the CEC newsletter of 2021); everything the newsletter does not give is
synthetic and deterministic:

* 21 party lists in ballot order, 1,015 list candidates (36..54 per list),
  withdrawals at P05 position 7 and P14 position 3; 54 preference squares.
* 36 single-mandate districts apportioned to the 8 in-country regions in
  proportion to their voters (largest remainder), numbered in region order;
  296 candidates (4..16 per district); candidate 4 of district 12 withdrawn.
* The 5 local councils the newsletter names, each covering 5..15 stations of
  the TEC it lies in.
* 2,494 stations (2,435 in country, 59 abroad) and 3,703,420 voters
  (84,128 abroad). In-country voters are split across regions in proportion
  to the party-list ballots each region cast, stations in proportion to voters.
* Modelling choice: stations abroad have no district, so their voters receive
  only the party-list ballot.

Randomness comes from ``random.Random`` seeded with fixed strings, one per
section, so changing one section never reshuffles another, and nothing
depends on set or dict-hash order.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from election import names
from election.model import (
    BallotKind,
    BallotSupply,
    Candidate,
    CandidateContest,
    Election,
    Language,
    Party,
    PartyListContest,
    PersonName,
    Region,
    Station,
    Tec,
    Text,
    council_contest_id,
    district_contest_id,
)

ELECTION_ID = "kg-2021-jk"
ELECTION_DATE = dt.date(2021, 11, 28)
RULES = "kg-2021"

LIST_CANDIDATES = 1_015
LIST_LENGTH_MIN, LIST_LENGTH_MAX = 36, 54
FULL_LISTS = 7  # lists kept at the full 54; the others are shorter
PREFERENCE_SQUARES = 54
WITHDRAWN_LIST_POSITIONS = {"P05": 7, "P14": 3}

DISTRICTS = 36
DISTRICT_CANDIDATES = 296
DISTRICT_CANDIDATES_MIN, DISTRICT_CANDIDATES_MAX = 4, 16
LARGE_DISTRICTS, LARGE_DISTRICT_MIN = 3, 11  # at least this many districts with >= 11 candidates
WITHDRAWN_DISTRICT_CANDIDATE = (12, 4)  # (district number, ballot position)
COUNCIL_CANDIDATES_MIN, COUNCIL_CANDIDATES_MAX = 6, 14
COUNCIL_STATIONS_MIN, COUNCIL_STATIONS_MAX = 5, 15
NOMINATED_SHARE = 0.6  # share of district/council candidates nominated by a party

VOTERS = 3_703_420
VOTERS_ABROAD = 84_128
STATIONS_IN_COUNTRY = 2_435
STATIONS_ABROAD = 59
STATION_VOTERS_FLOOR = 300

# Party-list ballots per in-country region in 2021 (DESIGN.md): the weights by
# which in-country voters are split across regions.
REGION_BALLOTS: dict[str, int] = {
    "bishkek": 431_382,
    "chui": 611_842,
    "issyk-kul": 316_828,
    "naryn": 209_073,
    "talas": 163_001,
    "jalal-abad": 686_684,
    "osh": 900_536,
    "batken": 305_666,
}

# Typical share of ballots printed in Kyrgyz per region (the rest in Russian).
KYRGYZ_SHARE: dict[str, float] = {
    "bishkek": 0.45,
    "chui": 0.55,
    "issyk-kul": 0.82,
    "naryn": 0.93,
    "talas": 0.92,
    "jalal-abad": 0.88,
    "osh": 0.86,
    "batken": 0.90,
    "abroad": 0.50,
}

_VOWELS = frozenset("аеёиоуыэюяөүАЕЁИОУЫЭЮЯӨҮ")
_ABROAD_REGIONS = frozenset(r for r, _ky, _ru, abroad in names.REGIONS if abroad)
_DIRECTIONS = (
    ("түндүк", "северный"),
    ("түштүк", "южный"),
    ("чыгыш", "восточный"),
    ("батыш", "западный"),
    ("борбордук", "центральный"),
)


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method).

    Exact integer arithmetic; ties in the remainders go to the earlier index,
    so the result is deterministic.
    """
    weight_sum = sum(weights)
    if total < 0 or weight_sum <= 0 or any(w < 0 for w in weights):
        raise ValueError("largest_remainder needs a non-negative total and positive weights")
    shares = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


@functools.cache
def default_election() -> Election:
    """The embedded 2021-shaped election. Built once per process, then shared (it is immutable)."""
    parties = _parties()
    regions = tuple(Region(id=r, name=Text(ky, ru), abroad=abroad)
                    for r, ky, ru, abroad in names.REGIONS)
    tecs = tuple(
        Tec(id=_tec_id(region, slug), name=Text(ky, ru), region=region)
        for region, entries in names.TECS
        for slug, ky, ru, _weight in entries
    )
    plan = _plan_stations()
    districts = _districts(plan, parties)
    councils, council_of_station = _councils(plan, parties)
    stations = _stations(plan, council_of_station)
    return Election(
        election_id=ELECTION_ID,
        name=names.ELECTION_NAME,
        date=ELECTION_DATE,
        rules=RULES,
        party_list=PartyListContest(
            parties=parties, against_all=True, preference_squares=PREFERENCE_SQUARES
        ),
        districts=districts,
        councils=councils,
        regions=regions,
        tecs=tecs,
        stations=stations,
    )


# --- people -------------------------------------------------------------------


def _ov_stem(root: str) -> str:
    """``Асан`` -> ``Асанов``, ``Турдубай`` -> ``Турдубаев``, ``Мураталы`` -> ``Мураталиев``."""
    if root.endswith("й"):
        return root[:-1] + "ев"
    if root.endswith("ы"):
        return root[:-1] + "иев"
    if root[-1] in _VOWELS:
        return root + "ев"
    return root + "ов"


def _surname(root: str, female: bool) -> str:
    return _ov_stem(root) + ("а" if female else "")


def _ru_patronymic(father: str, female: bool) -> str:
    return _ov_stem(names.ru_spelling(father)) + ("на" if female else "ич")


def _person(rng: random.Random) -> PersonName:
    """A synthetic person: Kyrgyz forms in ``ky``, Russian forms in ``ru``."""
    female = rng.random() < 0.4
    first = rng.choice(names.FEMALE_FIRST_NAMES if female else names.MALE_FIRST_NAMES)
    surname = _surname(rng.choice(names.NAME_ROOTS), female)
    father = rng.choice(names.NAME_ROOTS + names.MALE_FIRST_NAMES)
    return PersonName(
        surname=Text(ky=surname, ru=names.ru_spelling(surname)),
        first_name=Text(ky=first, ru=names.ru_spelling(first)),
        patronymic=Text(ky=f"{father} {'кызы' if female else 'уулу'}",
                        ru=_ru_patronymic(father, female)),
    )


# --- party lists --------------------------------------------------------------


def _list_lengths(rng: random.Random, count: int) -> list[int]:
    """Lengths in [36, 54] summing to 1,015: a few full lists, the others shorter."""
    full = set(rng.sample(range(count), FULL_LISTS))
    short = [i for i in range(count) if i not in full]
    lengths = [LIST_LENGTH_MAX] * count
    for i in short:
        lengths[i] = rng.randint(LIST_LENGTH_MIN, LIST_LENGTH_MAX - 1)
    while (excess := sum(lengths) - LIST_CANDIDATES) != 0:
        step = 1 if excess < 0 else -1
        movable = [i for i in short if LIST_LENGTH_MIN <= lengths[i] + step < LIST_LENGTH_MAX]
        lengths[rng.choice(movable)] += step
    return lengths


def _parties() -> tuple[Party, ...]:
    rng = random.Random("pcos-kg/default/2021/party-lists")
    lengths = _list_lengths(rng, len(names.PARTIES))
    parties = []
    for index, ((ky, ru), length) in enumerate(zip(names.PARTIES, lengths, strict=True)):
        party_id = f"P{index + 1:02d}"
        withdrawn = WITHDRAWN_LIST_POSITIONS.get(party_id)
        parties.append(Party(
            id=party_id,
            name=Text(ky=ky, ru=ru),
            candidates=tuple(_person(rng) for _ in range(length)),
            withdrawn_positions=frozenset({withdrawn}) if withdrawn else frozenset(),
        ))
    return tuple(parties)


def _nominee(rng: random.Random, parties: Sequence[Party]) -> Text | None:
    return rng.choice(parties).name if rng.random() < NOMINATED_SHARE else None


# --- stations, districts, councils --------------------------------------------


@dataclass(frozen=True)
class _PlannedStation:
    number: str
    region: str
    tec: str
    voters: int
    district: int | None


@dataclass(frozen=True)
class _Plan:
    """Stations in number order, grouped by region then TEC, with their districts."""

    stations: tuple[_PlannedStation, ...]
    district_regions: tuple[str, ...]  # region of district n at index n - 1


def _tec_id(region: str, slug: str) -> str:
    return f"tec-{region}-{slug}" if slug else f"tec-{region}"


def _station_voters(rng: random.Random, count: int, total: int) -> list[int]:
    """``count`` varied station sizes (about 300..3,000) summing exactly to ``total``."""
    weights = [int(rng.triangular(10, 200, 60)) for _ in range(count)]
    extra = largest_remainder(total - STATION_VOTERS_FLOOR * count, weights)
    return [STATION_VOTERS_FLOOR + e for e in extra]


def _split_by_voters(voters: Sequence[int], parts: int) -> list[int]:
    """Cut a run of stations into ``parts`` contiguous groups of near-equal voters.

    Returns the group index of each station.
    """
    total = sum(voters)
    groups: list[int] = []
    running = 0
    for v in voters:
        # The station's voter midpoint decides its group.
        groups.append(min(parts - 1, (2 * running + v) * parts // (2 * total)))
        running += v
    return groups


def _plan_stations() -> _Plan:
    rng = random.Random("pcos-kg/default/2021/stations")
    in_country = [r for r, *_ in names.REGIONS if r in REGION_BALLOTS]
    region_voters = dict(zip(in_country, largest_remainder(
        VOTERS - VOTERS_ABROAD, [REGION_BALLOTS[r] for r in in_country]), strict=True))
    region_stations = dict(zip(in_country, largest_remainder(
        STATIONS_IN_COUNTRY, [region_voters[r] for r in in_country]), strict=True))
    region_districts = dict(zip(in_country, largest_remainder(
        DISTRICTS, [region_voters[r] for r in in_country]), strict=True))
    region_voters["abroad"] = VOTERS_ABROAD
    region_stations["abroad"] = STATIONS_ABROAD
    region_districts["abroad"] = 0

    tec_table = dict(names.TECS)
    planned: list[_PlannedStation] = []
    district_regions: list[str] = []
    for block, (region, *_rest) in enumerate(names.REGIONS, start=1):
        count = region_stations[region]
        tecs = tec_table[region]
        per_tec = largest_remainder(count, [round(w * 10) for *_n, w in tecs])
        tec_of = [_tec_id(region, tecs[t][0]) for t, n in enumerate(per_tec) for _ in range(n)]
        voters = _station_voters(rng, count, region_voters[region])
        parts = region_districts[region]
        groups = _split_by_voters(voters, parts) if parts else [None] * count
        first_district = len(district_regions) + 1
        district_regions.extend([region] * parts)
        for i in range(count):
            group = groups[i]
            planned.append(_PlannedStation(
                number=f"{block * 1000 + i + 1}",
                region=region,
                tec=tec_of[i],
                voters=voters[i],
                district=None if group is None else first_district + group,
            ))
    return _Plan(stations=tuple(planned), district_regions=tuple(district_regions))


def _district_sizes(rng: random.Random) -> list[int]:
    """Candidates per district: 4..16, summing to 296, at least 3 districts with >= 11."""
    large = set(rng.sample(range(DISTRICTS), LARGE_DISTRICTS))
    floors = [LARGE_DISTRICT_MIN if i in large else DISTRICT_CANDIDATES_MIN
              for i in range(DISTRICTS)]
    sizes = [rng.randint(floor, DISTRICT_CANDIDATES_MAX - 2) for floor in floors]
    while (excess := sum(sizes) - DISTRICT_CANDIDATES) != 0:
        step = 1 if excess < 0 else -1
        movable = [i for i in range(DISTRICTS)
                   if floors[i] <= sizes[i] + step <= DISTRICT_CANDIDATES_MAX]
        sizes[rng.choice(movable)] += step
    return sizes


def _district_names(plan: _Plan) -> list[Text]:
    """Each district is named after the TEC holding most of its voters.

    Districts sharing that TEC get a compass word (north, south, ...).
    """
    tec_names = {_tec_id(region, slug): (ky, ru)
                 for region, entries in names.TECS for slug, ky, ru, _w in entries}
    principal: list[str] = []
    for number in range(1, len(plan.district_regions) + 1):
        voters_by_tec: dict[str, int] = {}
        for s in plan.stations:
            if s.district == number:
                voters_by_tec[s.tec] = voters_by_tec.get(s.tec, 0) + s.voters
        principal.append(max(sorted(voters_by_tec), key=lambda t: voters_by_tec[t]))
    result = []
    for index, tec in enumerate(principal):
        ky, ru = tec_names[tec]
        sharing = [i for i, t in enumerate(principal) if t == tec]
        if len(sharing) > 1:
            k = sharing.index(index)
            if k < len(_DIRECTIONS):
                ky, ru = f"{ky} ({_DIRECTIONS[k][0]})", f"{ru} ({_DIRECTIONS[k][1]})"
            else:
                ky, ru = f"{ky} ({k + 1})", f"{ru} ({k + 1})"
        result.append(Text(ky=ky, ru=ru))
    return result


def _districts(plan: _Plan, parties: Sequence[Party]) -> tuple[CandidateContest, ...]:
    rng = random.Random("pcos-kg/default/2021/districts")
    sizes = _district_sizes(rng)
    contests = []
    for number, (region, size, name) in enumerate(
        zip(plan.district_regions, sizes, _district_names(plan), strict=True), start=1
    ):
        candidates = tuple(
            Candidate(
                id=f"D{number:02d}-{position:02d}",
                name=_person(rng),
                nominated_by=_nominee(rng, parties),
                withdrawn=(number, position) == WITHDRAWN_DISTRICT_CANDIDATE,
            )
            for position in range(1, size + 1)
        )
        contests.append(CandidateContest(
            id=district_contest_id(number),
            kind=BallotKind.DISTRICT,
            number=number,
            name=name,
            candidates=candidates,
            against_all=True,
            region=region,
        ))
    return tuple(contests)


def _councils(
    plan: _Plan, parties: Sequence[Party]
) -> tuple[tuple[CandidateContest, ...], dict[str, str]]:
    """The five councils, and the council id of each station they cover."""
    rng = random.Random("pcos-kg/default/2021/councils")
    contests = []
    council_of_station: dict[str, str] = {}
    for number, (council_id, ky, ru, region, tec_slug) in enumerate(names.COUNCILS, start=1):
        tec = _tec_id(region, tec_slug)
        candidates_of_tec = [s.number for s in plan.stations if s.tec == tec]
        covered = rng.sample(candidates_of_tec, rng.randint(COUNCIL_STATIONS_MIN,
                                                            COUNCIL_STATIONS_MAX))
        for station in sorted(covered):
            council_of_station[station] = council_id
        size = rng.randint(COUNCIL_CANDIDATES_MIN, COUNCIL_CANDIDATES_MAX)
        candidates = tuple(
            Candidate(id=f"L{number:02d}-{position:02d}", name=_person(rng),
                      nominated_by=_nominee(rng, parties))
            for position in range(1, size + 1)
        )
        contests.append(CandidateContest(
            id=council_contest_id(council_id),
            kind=BallotKind.LOCAL,
            number=number,
            name=Text(ky=ky, ru=ru),
            candidates=candidates,
            against_all=True,
            region=region,
        ))
    return tuple(contests), council_of_station


def _stations(plan: _Plan, council_of_station: dict[str, str]) -> tuple[Station, ...]:
    rng = random.Random("pcos-kg/default/2021/ballots")
    stations = []
    for s in plan.stations:
        council = council_of_station.get(s.number)
        share = min(1.0, max(0.0, KYRGYZ_SHARE[s.region] + rng.uniform(-0.05, 0.05)))
        kyrgyz = round(s.voters * share)
        kinds = [BallotKind.PARTY_LIST]
        if s.district is not None:
            kinds.append(BallotKind.DISTRICT)
        if council is not None:
            kinds.append(BallotKind.LOCAL)
        ballots = tuple(
            supply
            for kind in kinds
            for supply in (BallotSupply(kind, Language.KY, kyrgyz),
                           BallotSupply(kind, Language.RU, s.voters - kyrgyz))
        )
        stations.append(Station(
            number=s.number,
            region=s.region,
            tec=s.tec,
            district=s.district,
            council=council,
            voters=s.voters,
            abroad=s.region in _ABROAD_REGIONS,
            ballots=ballots,
        ))
    return tuple(stations)
