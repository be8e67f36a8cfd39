"""Load and save election definitions (format ``pcos-kg/election``, version 1).

:func:`load_election` is the strict inverse of
:func:`election.serialize.election_to_json`. It checks the whole document and
either returns a complete :class:`~election.model.Election` or raises
:class:`~election.errors.DefinitionError` naming the JSON path of the first
problem, e.g. ``$.geography.stations[17].district: unknown district 99``.
Nothing is half-loaded: the Election is built only after every check passed.

What is checked:

* the JSON itself (syntax with line and column, duplicate keys, NaN/Infinity);
* ``format`` and ``format_version``;
* every object: required keys present, no unknown keys;
* types: strings, integers (``true`` is not an integer), booleans, arrays;
* non-empty texts in both languages (a patronymic may be empty in both);
* the date (``YYYY-MM-DD``), identifiers, ranges (``preference_squares``
  1..99, withdrawn positions within the list, non-negative voters and ballots);
* uniqueness: party ids, candidate ids across the election, district
  numbers, council ids and numbers, region, TEC and station ids;
* references: a station's region, TEC, district and council exist and agree
  with each other (a TEC, district or council of another region is refused),
  a TEC's region exists, ``abroad`` matches the station's region, and a
  station only holds district or local ballots if it has a district or council.

Keys whose model field has a default may be left out of a hand-written file:
``party_list.against_all``, ``party_list.preference_squares``,
``withdrawn_positions``, a candidate's ``withdrawn`` and ``nominated_by``, a
contest's ``against_all`` and ``region``, ``local_councils``, a region's
``abroad``, and a station's ``council`` and ``ballots``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from election.errors import DefinitionError, PcosError
from election.fileio import write_atomically
from election.model import (
    AGAINST_ALL,
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
from election.serialize import FORMAT, FORMAT_VERSION, election_to_json

PREFERENCE_SQUARES_MAX = 99

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_COUNCIL_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KIND_ORDER = {kind: i for i, kind in enumerate(BallotKind)}
_LANGUAGE_ORDER = {lang: i for i, lang in enumerate(Language)}

Source = str | os.PathLike[str] | bytes | bytearray | Mapping[str, Any]


# --- public API -----------------------------------------------------------------


def load_election(source: Source) -> Election:
    """Read and validate an election definition.

    ``source`` is a file path (``str`` or ``Path``), the file's content
    (``bytes``), or an already parsed JSON document (``dict``; any other value is
    taken as a parsed document too, and refused unless it is an object). A ``str``
    whose first non-blank character is ``{`` is taken as JSON text, not as
    a path. Raises :class:`DefinitionError` for anything wrong, including a
    file that cannot be read.
    """
    if isinstance(source, bytes | bytearray):
        return _Reader().election(parse_json(bytes(source)))
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return _Reader().election(parse_json(source))
    if not isinstance(source, str | os.PathLike):
        return _Reader().election(source)  # a parsed document (anything but an object fails)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DefinitionError("$", f"cannot read election file {str(path)!r}: {reason}") from None
    return _Reader().election(parse_json(data))


def election_json_text(election: Election) -> str:
    """The definition as readable JSON: small objects on one line, larger ones expanded."""
    return _pretty(election_to_json(election), "") + "\n"


def dump_election(election: Election, path: str | os.PathLike[str]) -> None:
    """Write the definition to ``path`` as UTF-8 JSON, atomically (temp file + rename).

    An existing file is replaced. Raises :class:`PcosError` if it cannot be written.
    """
    try:
        write_atomically(path, election_json_text(election).encode("utf-8"))
    except PcosError as exc:
        raise PcosError(f"cannot write election file: {exc}") from None


def parse_json(data: bytes | str) -> Any:
    """Strict JSON parsing: errors become DefinitionError at ``$`` with line and column.

    Duplicate keys are remembered and reported by the validator at their path.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DefinitionError("$", f"not UTF-8 text (bad byte at offset {exc.start})") from None
    else:
        text = data
    try:
        return json.loads(text, object_pairs_hook=_JsonObject.from_pairs,
                          parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            "$", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DefinitionError("$", "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise DefinitionError("$", f"invalid JSON: {exc}") from None


# --- JSON helpers ---------------------------------------------------------------


class _JsonObject(dict[str, Any]):
    """A parsed JSON object that remembers keys given more than once."""

    duplicates: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            duplicates = []
            for key, _value in pairs:
                if key in seen:
                    duplicates.append(key)
                seen.add(key)
            obj.duplicates = tuple(duplicates)
        return obj


def _reject_constant(name: str) -> NoReturn:
    raise DefinitionError("$", f"invalid JSON: {name} is not a JSON value")


def _pretty(value: Any, indent: str, width: int = 100) -> str:
    flat = json.dumps(value, ensure_ascii=False)
    if len(indent) + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, inner, width)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [inner + _pretty(v, inner, width) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def _key_path(path: str, key: object) -> str:
    if isinstance(key, str) and _KEY.match(key):
        return f"{path}.{key}"
    shown = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)
    return f"{path}[{shown}]"


def _describe(value: object) -> str:
    """How a value looks in JSON terms, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string"
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a Python {type(value).__name__}"


def _fail(path: str, expected: str, value: object) -> NoReturn:
    raise DefinitionError(path, f"expected {expected}, got {_describe(value)}")


@functools.lru_cache(maxsize=64)
def _shape(required: tuple[str, ...], optional: tuple[str, ...]
           ) -> tuple[frozenset[str], frozenset[str]]:
    """An object shape's required and allowed keys as sets (a handful of shapes, built once)."""
    return frozenset(required), frozenset((*required, *optional))


class _Obj:
    """One JSON object being read: its keys are checked on construction."""

    __slots__ = ("path", "value")

    def __init__(self, value: object, path: str, required: tuple[str, ...],
                 optional: tuple[str, ...] = ()) -> None:
        # Plainly right (a parsed object, no duplicate, no unknown or missing key): the
        # set comparisons say so in bulk; anything else goes to the check naming the key.
        if type(value) is _JsonObject and not value.duplicates:
            need, allowed = _shape(required, optional)
            keys = value.keys()
            if keys <= allowed and need <= keys:
                self.value: Mapping[str, Any] = value
                self.path = path
                return
        if not isinstance(value, Mapping):
            _fail(path, "an object", value)
        required, optional = tuple(required), tuple(optional)
        for dup in getattr(value, "duplicates", ()):
            raise DefinitionError(_key_path(path, dup), "duplicate key")
        allowed = (*required, *optional)
        for key in value:
            if key not in allowed:
                raise DefinitionError(_key_path(path, key),
                                      f"unknown key (expected one of: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                raise DefinitionError(_key_path(path, key), "missing required key")
        self.value = value
        self.path = path

    def has(self, key: str) -> bool:
        return key in self.value

    def at(self, key: str) -> tuple[Any, str]:
        return self.value[key], _key_path(self.path, key)

    def key_path(self, key: str) -> str:
        return _key_path(self.path, key)

    # Typed members ------------------------------------------------------------
    # Each first takes the value when it is plainly right, without building its path
    # (a national definition has some 50,000 members: a device loading the package reads
    # them all); anything else goes to the full check, which names the path.
    def string(self, key: str) -> str:
        value = self.value[key]
        if type(value) is str and value.strip() and not _UNPRINTABLE.search(value):
            return value
        return _string(*self.at(key))

    def ident(self, key: str, pattern: re.Pattern[str] = _ID) -> str:
        value = self.value[key]
        if type(value) is str and pattern.match(value):
            return value
        return _ident(*self.at(key), pattern)

    def integer(self, key: str, low: int | None = None, high: int | None = None) -> int:
        value = self.value[key]
        if type(value) is int and (low is None or value >= low) and (
                high is None or value <= high):
            return value
        return _integer(*self.at(key), low, high)

    def boolean(self, key: str, default: bool | None = None) -> bool:
        if default is not None and key not in self.value:
            return default
        value = self.value[key]
        if type(value) is bool:
            return value
        value, path = self.at(key)
        if not isinstance(value, bool):
            _fail(path, "true or false", value)
        return value

    def array(self, key: str, *, non_empty: bool = False, default: bool = False) -> list[Any]:
        if default and key not in self.value:
            return []
        value = self.value[key]
        if type(value) is list and (value or not non_empty):
            return value
        value, path = self.at(key)
        if not isinstance(value, list):
            _fail(path, "an array", value)
        if non_empty and not value:
            raise DefinitionError(path, "expected a non-empty array")
        return value

    def text(self, key: str, *, may_be_empty: bool = False) -> Text:
        value = self.value[key]
        # plainly right: an object of exactly ky and ru, printable strings, both non-empty
        # (or, where allowed, both empty)
        if type(value) is _JsonObject and len(value) == 2 and not value.duplicates:
            ky, ru = value.get("ky"), value.get("ru")
            if (type(ky) is str and type(ru) is str and not _UNPRINTABLE.search(ky)
                    and not _UNPRINTABLE.search(ru)):
                full_ky, full_ru = bool(ky.strip()), bool(ru.strip())
                if (full_ky and full_ru) or (may_be_empty and full_ky == full_ru):
                    return Text(ky=ky, ru=ru)
        return _text(*self.at(key), may_be_empty=may_be_empty)


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(path, "a non-empty string", value)
    return _printable(value, path)


def _printable(value: str, path: str) -> str:
    """Refuse control characters and unpaired surrogates (from ``\\ud800`` escapes).

    Texts are printed on ballots and hashed as UTF-8, so both would break later.
    """
    bad = _UNPRINTABLE.search(value)
    if bad:
        code = ord(bad.group())
        what = "an unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        raise DefinitionError(path, f"contains {what} U+{code:04X}")
    return value


def _ident(value: object, path: str, pattern: re.Pattern[str] = _ID) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        shape = ("lower-case letters and digits in words joined by '-'" if pattern is _COUNCIL_ID
                 else "letters, digits, '.', '_' or '-'")
        _fail(path, f"an identifier ({shape})", value)
    return value


def _integer(value: object, path: str, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(path, "an integer", value)
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            bounds = "a non-negative integer" if low == 0 else f"an integer >= {low}"
        else:
            bounds = f"an integer in {low}..{high}"
        _fail(path, bounds, value)
    return value


def _text(value: object, path: str, *, may_be_empty: bool = False) -> Text:
    obj = _Obj(value, path, ("ky", "ru"))
    if not may_be_empty:
        return Text(ky=obj.string("ky"), ru=obj.string("ru"))
    ky, ru = obj.at("ky"), obj.at("ru")
    for v, p in (ky, ru):
        if not isinstance(v, str):
            _fail(p, "a string", v)
        _printable(v, p)
    if bool(ky[0].strip()) != bool(ru[0].strip()):
        missing = ru if ky[0].strip() else ky
        raise DefinitionError(missing[1], "expected a non-empty string, as in the other language")
    return Text(ky=ky[0], ru=ru[0])


class _Unique:
    """Detects a value seen twice and says where it was first seen."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: dict[object, tuple[_Obj, str]] = {}

    def add(self, value: object, obj: _Obj, key: str) -> None:
        """``value``, read at ``obj``'s ``key`` (the paths are built only for a message)."""
        if value in self.first:
            first_obj, first_key = self.first[value]
            raise DefinitionError(
                obj.key_path(key), f"duplicate {self.what} {value!r} "
                f"(first at {first_obj.key_path(first_key)})"
            )
        self.first[value] = (obj, key)


# --- the document -------------------------------------------------------------------


class _Reader:
    """Walks one document; holds only the uniqueness tables of that walk."""

    def __init__(self) -> None:
        self.candidate_ids = _Unique("candidate id")

    def election(self, doc: object) -> Election:
        if not isinstance(doc, Mapping):
            _fail("$", "an object", doc)
        if "format" not in doc:
            raise DefinitionError("$.format", f"missing required key (expected {FORMAT!r})")
        if doc["format"] != FORMAT:
            _fail("$.format", json.dumps(FORMAT), doc["format"])
        if "format_version" not in doc:
            raise DefinitionError("$.format_version", "missing required key")
        version = _integer(doc["format_version"], "$.format_version")
        if version != FORMAT_VERSION:
            raise DefinitionError("$.format_version", f"unsupported version {version} "
                                  f"(this program reads version {FORMAT_VERSION})")
        top = _Obj(doc, "$", ("format", "format_version", "election_id", "name", "date",
                              "rules", "party_list", "districts", "geography"),
                   ("local_councils",))
        election_id = top.ident("election_id")
        name = top.text("name")
        date = _date(*top.at("date"))
        rules = top.string("rules")
        party_list = self.party_list(*top.at("party_list"))
        districts = self.contests(top, "districts", BallotKind.DISTRICT)
        councils = self.contests(top, "local_councils", BallotKind.LOCAL)
        regions, tecs, stations = self.geography(*top.at("geography"), districts, councils)
        return Election(
            election_id=election_id,
            name=name,
            date=date,
            rules=rules,
            party_list=party_list,
            districts=districts,
            councils=councils,
            regions=regions,
            tecs=tecs,
            stations=stations,
        )

    # --- party list -------------------------------------------------------------
    def party_list(self, value: object, path: str) -> PartyListContest:
        obj = _Obj(value, path, ("parties",), ("against_all", "preference_squares"))
        ids = _Unique("party id")
        items_path = obj.at("parties")[1]
        parties = tuple(self.party(item, f"{items_path}[{i}]", ids)
                        for i, item in enumerate(obj.array("parties", non_empty=True)))
        against_all = obj.boolean("against_all", default=True)
        if not obj.has("preference_squares"):
            return PartyListContest(parties=parties, against_all=against_all)
        squares = obj.integer("preference_squares", 1, PREFERENCE_SQUARES_MAX)
        return PartyListContest(parties=parties, against_all=against_all,
                                preference_squares=squares)

    def party(self, value: object, path: str, ids: _Unique) -> Party:
        obj = _Obj(value, path, ("id", "name", "candidates"), ("withdrawn_positions",))
        party_id = obj.ident("id")
        _not_reserved(party_id, obj, "id")
        ids.add(party_id, obj, "id")
        name = obj.text("name")
        cand_path = obj.at("candidates")[1]
        candidates = tuple(_person(_Obj(c, f"{cand_path}[{i}]", _PERSON_KEYS))
                           for i, c in enumerate(obj.array("candidates", non_empty=True)))
        withdrawn: set[int] = set()
        w_path = obj.at("withdrawn_positions")[1] if obj.has("withdrawn_positions") else ""
        for i, pos in enumerate(obj.array("withdrawn_positions", default=True)):
            p = f"{w_path}[{i}]"
            position = _integer(pos, p)
            if not 1 <= position <= len(candidates):
                raise DefinitionError(p, f"position {position} is not on the list "
                                      f"(positions 1..{len(candidates)})")
            if position in withdrawn:
                raise DefinitionError(p, f"position {position} is listed twice")
            withdrawn.add(position)
        return Party(id=party_id, name=name, candidates=candidates,
                     withdrawn_positions=frozenset(withdrawn))

    # --- districts and local councils ------------------------------------------------
    def contests(self, top: _Obj, key: str, kind: BallotKind) -> tuple[CandidateContest, ...]:
        local = kind is BallotKind.LOCAL
        items = top.array(key, default=local)
        base = _key_path(top.path, key)
        numbers = _Unique("council number" if local else "district number")
        ids = _Unique("council id")
        contests = []
        for i, item in enumerate(items):
            path = f"{base}[{i}]"
            obj = _Obj(item, path, ("number", "name", "candidates", *(("id",) if local else ())),
                       ("region", "against_all"))
            number = obj.integer("number", 1)
            numbers.add(number, obj, "number")
            if local:
                council = obj.ident("id", _COUNCIL_ID)
                if council.startswith("council-"):
                    raise DefinitionError(obj.at("id")[1], "must not start with 'council-'")
                ids.add(council, obj, "id")
                contest_id = council_contest_id(council)
            else:
                contest_id = district_contest_id(number)
            region = None
            if obj.has("region") and obj.value["region"] is not None:
                region = obj.ident("region")
            cand_path = obj.at("candidates")[1]
            candidates = tuple(self.candidate(c, f"{cand_path}[{j}]")
                               for j, c in enumerate(obj.array("candidates", non_empty=True)))
            contests.append(CandidateContest(
                id=contest_id, kind=kind, number=number, name=obj.text("name"),
                candidates=candidates, against_all=obj.boolean("against_all", default=True),
                region=region,
            ))
        return tuple(contests)

    def candidate(self, value: object, path: str) -> Candidate:
        obj = _Obj(value, path, ("id", *_PERSON_KEYS), ("withdrawn", "nominated_by"))
        candidate_id = obj.ident("id")
        _not_reserved(candidate_id, obj, "id")
        self.candidate_ids.add(candidate_id, obj, "id")
        name = _person(obj)
        nominated_by = None
        if obj.has("nominated_by") and obj.value["nominated_by"] is not None:
            nominated_by = obj.text("nominated_by")
        return Candidate(id=candidate_id, name=name, nominated_by=nominated_by,
                         withdrawn=obj.boolean("withdrawn", default=False))

    # --- geography -------------------------------------------------------------------
    def geography(
        self, value: object, path: str,
        districts: tuple[CandidateContest, ...], councils: tuple[CandidateContest, ...],
    ) -> tuple[tuple[Region, ...], tuple[Tec, ...], tuple[Station, ...]]:
        geo = _Obj(value, path, ("regions", "tecs", "stations"))
        regions_path, tecs_path, stations_path = (geo.at(k)[1]
                                                  for k in ("regions", "tecs", "stations"))
        region_ids = _Unique("region id")
        regions = []
        for i, item in enumerate(geo.array("regions", non_empty=True)):
            obj = _Obj(item, f"{regions_path}[{i}]", ("id", "name"), ("abroad",))
            region_id = obj.ident("id")
            region_ids.add(region_id, obj, "id")
            regions.append(Region(id=region_id, name=obj.text("name"),
                                  abroad=obj.boolean("abroad", default=False)))
        region_by_id = {r.id: r for r in regions}
        # Contest regions are checked before anything refers to the contests.
        _check_contest_regions(districts, "$.districts", region_by_id)
        _check_contest_regions(councils, "$.local_councils", region_by_id)

        tec_ids = _Unique("TEC id")
        tecs = []
        for i, item in enumerate(geo.array("tecs", non_empty=True)):
            obj = _Obj(item, f"{tecs_path}[{i}]", ("id", "name", "region"))
            tec_id = obj.ident("id")
            tec_ids.add(tec_id, obj, "id")
            name = obj.text("name")
            region = _reference(obj, "region", region_by_id, "region")
            tecs.append(Tec(id=tec_id, name=name, region=region))
        tec_by_id = {t.id: t for t in tecs}
        district_by_number = {d.number: d for d in districts}
        council_by_id = {c.id.removeprefix("council-"): c for c in councils}

        numbers = _Unique("station number")
        stations = []
        for i, item in enumerate(geo.array("stations", non_empty=True)):
            stations.append(_station(
                _Obj(item, f"{stations_path}[{i}]",
                     ("number", "region", "tec", "district", "voters", "abroad"),
                     ("council", "ballots")),
                numbers, region_by_id, tec_by_id, district_by_number, council_by_id,
            ))
        return tuple(regions), tuple(tecs), tuple(stations)


_PERSON_KEYS = ("surname", "first_name", "patronymic")


def _person(obj: _Obj) -> PersonName:
    return PersonName(surname=obj.text("surname"), first_name=obj.text("first_name"),
                      patronymic=obj.text("patronymic", may_be_empty=True))


def _not_reserved(option_id: str, obj: _Obj, key: str) -> None:
    if option_id == AGAINST_ALL:
        raise DefinitionError(obj.key_path(key),
                              f"{AGAINST_ALL!r} is reserved for the 'Against all' option")


def _date(value: object, path: str) -> dt.date:
    if not isinstance(value, str) or not _DATE.match(value):
        _fail(path, "a date as YYYY-MM-DD", value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DefinitionError(path, f"{value!r} is not a valid date") from None


def _reference(obj: _Obj, key: str, known: Mapping[str, object], what: str) -> str:
    value = obj.value[key]
    if type(value) is str and value in known:
        return value
    value, path = obj.at(key)
    if not isinstance(value, str):
        _fail(path, f"a {what} id (string)", value)
    if value not in known:
        raise DefinitionError(path, f"unknown {what} {value!r}")
    return value


def _check_contest_regions(contests: tuple[CandidateContest, ...], base: str,
                           regions: Mapping[str, Region]) -> None:
    for i, contest in enumerate(contests):
        if contest.region is not None and contest.region not in regions:
            raise DefinitionError(f"{base}[{i}].region", f"unknown region {contest.region!r}")


def _station(
    obj: _Obj, numbers: _Unique, regions: Mapping[str, Region], tecs: Mapping[str, Tec],
    districts: Mapping[int, CandidateContest], councils: Mapping[str, CandidateContest],
) -> Station:
    number = obj.ident("number")
    numbers.add(number, obj, "number")
    region = regions[_reference(obj, "region", regions, "region")]
    tec = tecs[_reference(obj, "tec", tecs, "TEC")]
    if tec.region != region.id:
        raise DefinitionError(obj.at("tec")[1], f"TEC {tec.id!r} belongs to region "
                              f"{tec.region!r}, not {region.id!r}")

    district_value = obj.value["district"]
    district: int | None = None
    if district_value is not None:
        district = (district_value if type(district_value) is int
                    else _integer(district_value, obj.key_path("district")))
        if district not in districts:
            raise DefinitionError(obj.key_path("district"), f"unknown district {district}")
        contest_region = districts[district].region
        if contest_region is not None and contest_region != region.id:
            raise DefinitionError(obj.key_path("district"), f"district {district} is in region "
                                  f"{contest_region!r}, not {region.id!r}")

    council: str | None = None
    if obj.has("council") and obj.value["council"] is not None:
        council = _reference(obj, "council", councils, "council")
        contest_region = councils[council].region
        if contest_region is not None and contest_region != region.id:
            raise DefinitionError(obj.at("council")[1], f"council {council!r} is in region "
                                  f"{contest_region!r}, not {region.id!r}")

    voters = obj.integer("voters", 0)
    abroad = obj.boolean("abroad")
    if abroad != region.abroad:
        raise DefinitionError(obj.at("abroad")[1], f"is {str(abroad).lower()}, but region "
                              f"{region.id!r} is {'' if region.abroad else 'not '}abroad")

    ballots = _ballots(obj, district is not None, council is not None)
    return Station(number=number, region=region.id, tec=tec.id, district=district,
                   council=council, voters=voters, abroad=abroad, ballots=ballots)


# the enums' values and members, looked up once (a national definition has 2,494 stations)
_KIND_VALUES = tuple(k.value for k in BallotKind)
_KIND_BY_VALUE = {k.value: k for k in BallotKind}
_LANGUAGE_VALUES = tuple(lang.value for lang in Language)
_LANGUAGE_BY_VALUE = {lang.value: lang for lang in Language}


def _ballots(station: _Obj, has_district: bool, has_council: bool) -> tuple[BallotSupply, ...]:
    """Ballots received, as ``{kind: {language: count}}``, in canonical (enum) order."""
    if not station.has("ballots"):
        return ()
    quick = _ballots_plainly_right(station.value["ballots"], has_district, has_council)
    if quick is not None:
        return quick
    value, path = station.at("ballots")
    kinds = _Obj(value, path, (), _KIND_VALUES)
    supplies = []
    for kind_name in kinds.value:
        kind = _KIND_BY_VALUE[kind_name]
        kind_value, kind_path = kinds.at(kind_name)
        if kind is BallotKind.DISTRICT and not has_district:
            raise DefinitionError(kind_path, "district ballots at a station with no district")
        if kind is BallotKind.LOCAL and not has_council:
            raise DefinitionError(kind_path, "local ballots at a station with no council")
        langs = _Obj(kind_value, kind_path, (), _LANGUAGE_VALUES)
        for lang_name in langs.value:
            supplies.append(BallotSupply(kind, _LANGUAGE_BY_VALUE[lang_name],
                                         langs.integer(lang_name, 0)))
    supplies.sort(key=lambda b: (_KIND_ORDER[b.kind], _LANGUAGE_ORDER[b.language]))
    return tuple(supplies)


_KINDS_WITH = {(d, c): frozenset(k.value for k in BallotKind
                                 if (d or k is not BallotKind.DISTRICT)
                                 and (c or k is not BallotKind.LOCAL))
               for d in (False, True) for c in (False, True)}
_LANGUAGE_SET = frozenset(_LANGUAGE_VALUES)
_ABSENT = object()  # a member not in a JSON object (``None`` is JSON's null)
# (member, value) in enum order (an enum's .value is a descriptor call: looked up once)
_KIND_PAIRS = tuple((k, k.value) for k in BallotKind)
_LANGUAGE_PAIRS = tuple((lang, lang.value) for lang in Language)


def _ballots_plainly_right(value: object, has_district: bool, has_council: bool
                           ) -> tuple[BallotSupply, ...] | None:
    """The supplies when the ballots object is plainly right (kinds this station may hold,
    known languages, non-negative integer counts, no duplicate key), else None: then
    :func:`_ballots` checks it in full and names what is wrong. Same result either way."""
    if type(value) is not _JsonObject or value.duplicates or not (
            value.keys() <= _KINDS_WITH[has_district, has_council]):
        return None
    supplies = []
    for kind, kind_name in _KIND_PAIRS:  # canonical (enum) order, as _ballots sorts them
        langs = value.get(kind_name, _ABSENT)  # a JSON null is present, and wrong
        if langs is _ABSENT:
            continue
        if type(langs) is not _JsonObject or langs.duplicates or not (
                langs.keys() <= _LANGUAGE_SET):
            return None
        for language, lang_name in _LANGUAGE_PAIRS:
            count = langs.get(lang_name, _ABSENT)
            if count is _ABSENT:
                continue
            if type(count) is not int or count < 0:
                return None
            supplies.append(BallotSupply(kind, language, count))
    return tuple(supplies)
