"""The printed reports: zero report, results report (N copies), test report, audit summary.

Each function takes the election (for names), a :class:`ReportData` and a
language, and returns a :class:`Report`: one 576-dot 1-bit raster per copy,
the ESC/POS bytes the printer receives (:meth:`Report.escpos`) and a PNG
preview. Rules enforced here, each with a typed :class:`ReportError`:

* a zero report is printed only from all-zero figures (polls do not open otherwise);
* a results report is printed only from official figures, a test report only
  from test figures (a test tally can never look official on paper);
* the report's election must be the election whose names it prints.

Results and test reports end with the signed quick-results QR codes
(:mod:`firmware.quickresults`) when given the device key.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from election.fileio import write_atomically
from election.hashing import election_hash
from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    Election,
    Language,
    Station,
    Text,
)
from election.reject import RejectReason
from election.rules import PreferenceStatus, judge_ballot
from election.tally import ContestTally, Tally, TallyBuilder
from firmware import escpos, quickresults
from firmware.printout import (
    Banner,
    Block,
    Heading,
    KeyValue,
    Line,
    QRCode,
    Separator,
    SmallPrint,
    Spacer,
    Table,
    Title,
    layout,
)
from firmware.reportdata import ReportData, ReportError, ReportMode, Withdrawals

__all__ = ["AuditSummary", "Report", "ReportData", "ReportError", "ReportKind", "ReportMode",
           "Withdrawals", "audit_summary", "results_report", "sample_report_data",
           "test_report", "zero_report"]


class ReportKind(StrEnum):
    ZERO = "zero"
    RESULTS = "results"
    TEST = "test"
    AUDIT = "audit"
    CALIBRATION = "calibration"  # laid out by firmware.calibration_report


T = Text  # labels below: Text(ky=..., ru=...)

LABELS: dict[str, Text] = {
    "zero": T("НӨЛДҮК ОТЧЕТ", "НУЛЕВОЙ ОТЧЁТ"),
    "results": T("ДОБУШ БЕРҮҮНҮН ЖЫЙЫНТЫКТАРЫ", "ИТОГИ ГОЛОСОВАНИЯ"),
    "test": T("СЫНОО ОТЧЕТУ", "ТЕСТОВЫЙ ОТЧЁТ"),
    "audit": T("АУДИТ ЖУРНАЛЫНЫН КЫСКАЧАСЫ", "СВОДКА ЖУРНАЛА АУДИТА"),
    "test_banner": T("СЫНОО — ТЕСТ", "ТЕСТ — СЫНОО"),
    "test_note": T("Бул сыноо бюллетендери. Расмий жыйынтык эмес.",
                   "Это тестовые бюллетени. Не официальные итоги."),
    "zero_note": T("Бюллетень кутусу бош. Бардык көрсөткүчтөр нөл.",
                   "Урна пуста. Все показатели равны нулю."),
    "station": T("Шайлоо участогу", "Избирательный участок"),
    "device": T("Түзмөк", "Устройство"),
    "time": T("Убакыт (UTC)", "Время (UTC)"),
    "mode": T("Режим", "Режим"),
    "official": T("расмий", "официальный"),
    "testmode": T("сыноо", "тестовый"),
    "copy": T("Нуска {k} / {n}", "Экземпляр {k} из {n}"),
    "sheets_cast": T("Кутуга түшкөн бюллетендер", "Бюллетеней в урне"),
    "marginal": T("Чектеги белгилери бар бюллетендер", "Бюллетени с пограничными метками"),
    "returned": T("Шайлоочуга кайтарылган барактар", "Листы, возвращённые избирателю"),
    "returned_none": T("Кайтарылган барак жок", "Возвращённых листов нет"),
    "option": T("Вариант", "Вариант"),
    "votes": T("Добуш", "Голоса"),
    "against_all": T("Баарына каршы", "Против всех"),
    "blank": T("Белгисиз (жараксыз)", "Без отметок (недейств.)"),
    "overvote": T("Бирден ашык белги (жараксыз)", "Более одной отметки (недейств.)"),
    "withdrawn": T("Чыгып кеткен талапкер (жараксыз)", "За выбывшего (недейств.)"),
    "invalid": T("Жараксыз бюллетендер", "Недействительные бюллетени"),
    "valid": T("Жарактуу бюллетендер", "Действительные бюллетени"),
    "ballots": T("Бардык бюллетендер", "Всего бюллетеней"),
    "party_list": T("Партиялык тизмелер", "Партийные списки"),
    "district": T("№{n} шайлоо округу", "Избирательный округ №{n}"),
    "preferences": T("Артыкчылык добуштары (тизмедеги орун)",
                     "Преференциальные голоса (место в списке)"),
    "pref_none": T("Артыкчылык добуштары жок", "Преференциальных голосов нет"),
    "pref_status": T("Артыкчылык белгилери", "Отметки преференций"),
    "withdrawals": T("Күчүндөгү талапкерлердин чыгып кетиши", "Действующие выбытия кандидатов"),
    "withdrawals_none": T("Чыгып кеткен талапкер жок", "Выбывших кандидатов нет"),
    "position": T("№{n}", "№{n}"),
    "identity": T("Идентификация", "Идентификация"),
    "election_id": T("Шайлоо", "Выборы"),
    "election_hash": T("Шайлоонун хэши", "Хэш выборов"),
    "package_hash": T("Пакеттин хэши", "Хэш пакета"),
    "software_hash": T("Программанын хэши", "Хэш программы"),
    "audit_head": T("Аудит журналынын акыркы хэши", "Последний хэш журнала аудита"),
    "qr_caption": T("Кол коюлган жыйынтык, код {k} / {n}",
                    "Подписанные итоги, код {k} из {n}"),
    "qr_note": T("Текшерүү: pcos verify-report СҮРӨТ --cert ТҮЗМӨК.json",
                 "Проверка: pcos verify-report ФОТО --cert УСТРОЙСТВО.json"),
    "signatures": T("Комиссиянын мүчөлөрүнүн колдору:", "Подписи членов комиссии:"),
    "audit_entries": T("Жазуулар", "Записей"),
    "audit_first": T("Биринчи жазуу", "Первая запись"),
    "audit_last": T("Акыркы жазуу", "Последняя запись"),
    "audit_checkpoints": T("Кол коюлган текшерүү чекиттери", "Подписанные контрольные точки"),
    "audit_kinds": T("Окуялар түрлөрү боюнча", "События по видам"),
}

PREFERENCE_STATUS_LABELS: dict[PreferenceStatus, Text] = {
    PreferenceStatus.NONE: T("Белгиленген жок", "Нет отметки"),
    PreferenceStatus.VALID: T("Жарактуу", "Действительные"),
    PreferenceStatus.VOID_MULTIPLE: T("Бирден ашык", "Более одной"),
    PreferenceStatus.VOID_BEYOND_LIST: T("Тизмеден тышкары", "Вне списка"),
    PreferenceStatus.VOID_WITHDRAWN: T("Чыгып кеткенге", "За выбывшего"),
    PreferenceStatus.NOT_APPLICABLE: T("Партия тандалган жок", "Партия не выбрана"),
}

REASON_LABELS: dict[RejectReason, Text] = {
    RejectReason.IMAGE_INVALID: T("Жараксыз сүрөт", "Негодное изображение"),
    RejectReason.NOT_A_BALLOT: T("Бюллетень эмес", "Не бюллетень"),
    RejectReason.REGISTRATION: T("Четки белгилер окулган жок", "Не прочитаны метки"),
    RejectReason.CODE_INVALID: T("Код окулган жок", "Код не прочитан"),
    RejectReason.WRONG_ELECTION: T("Башка шайлоонун бюллетени", "Бюллетень других выборов"),
    RejectReason.WRONG_CONTEST: T("Башка округдун бюллетени", "Бюллетень другого округа"),
    RejectReason.STRIPE_MISMATCH: T("Тилкенин түсү дал келбейт", "Цвет полосы не совпадает"),
    RejectReason.SECURITY_MISSING: T("Коргоочу боек жок", "Нет защитной краски"),
    RejectReason.SCALE: T("Масштаб туура эмес", "Неверный масштаб"),
    RejectReason.STREAK: T("Сканердин айнегинде так", "Пятно на стекле сканера"),
    RejectReason.DOUBLE_FEED: T("Кош берүү", "Двойная подача"),
}


def label(key: str, lang: Language, **fields: object) -> str:
    text = LABELS[key].get(lang)
    return text.format(**fields) if fields else text


@dataclass(frozen=True)
class AuditSummary:
    """The audit log at a glance (built by the audit log's owner).

    ``by_kind``: (event kind, entries) in the log's own kind names.
    """

    entries: int
    head_hash: str
    first_time: str
    last_time: str
    checkpoints: int
    by_kind: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Report:
    """A laid-out report: one raster per copy (bool, 576 wide, True = black)."""

    kind: ReportKind
    language: Language
    pages: tuple[np.ndarray, ...]
    qr_texts: tuple[str, ...] = ()

    @property
    def copies(self) -> int:
        return len(self.pages)

    def escpos(self) -> bytes:
        """The bytes sent to the printer: init, then each copy as raster, feed, cut."""
        return escpos.job(self.pages)

    def preview(self) -> np.ndarray:
        """Every copy one under another with a dashed cut line (bool)."""
        cut = np.zeros((24, escpos.DOTS_PER_LINE), dtype=bool)
        cut[12, (np.arange(escpos.DOTS_PER_LINE) // 6) % 2 == 0] = True
        parts: list[np.ndarray] = []
        for page in self.pages:
            if parts:
                parts.append(cut)
            parts.append(page)
        return np.concatenate(parts)

    def save(self, out_dir: str | Path, stem: str | None = None) -> tuple[Path, Path]:
        """Write ``<stem>.png`` (preview) and ``<stem>.escpos`` (printer bytes) atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or f"report-{self.kind.value}-{self.language.value}"
        png = out / f"{stem}.png"
        buffer = io.BytesIO()
        # A bool array is a 1-bit image (True = white): the same image, hence the same PNG
        # bytes, as converting the grey picture to mode "1", without PIL's dithering pass.
        Image.fromarray(~self.preview()).save(buffer, format="PNG")
        write_atomically(png, buffer.getvalue())
        raw = write_atomically(out / f"{stem}.escpos", self.escpos())
        return png, raw


# --- names -----------------------------------------------------------------------------------


def contest_name(election: Election, contest_id: str, lang: Language) -> str:
    if contest_id == PARTY_LIST_CONTEST:
        return label("party_list", lang)
    try:
        contest = election.contest(contest_id)
    except KeyError:
        raise ReportError(f"report: contest {contest_id!r} is not in election "
                          f"{election.election_id!r}") from None
    if contest.kind is BallotKind.DISTRICT:
        return f"{label('district', lang, n=contest.number)}: {contest.name.get(lang)}"
    return contest.name.get(lang)


def option_name(election: Election, contest_id: str, option: str, lang: Language) -> str:
    if option == AGAINST_ALL:
        return label("against_all", lang)
    try:
        if contest_id == PARTY_LIST_CONTEST:
            party = election.party_list.parties
            pos = next(i for i, p in enumerate(party, 1) if p.id == option)
            return f"{pos}. {election.party_list.party(option).name.get(lang)}"
        contest = election.contest(contest_id)
        pos = next(i for i, c in enumerate(contest.candidates, 1) if c.id == option)
        return f"{pos}. {contest.candidate(option).name.full(lang)}"
    except (KeyError, StopIteration):
        raise ReportError(f"report: option {option!r} is not in contest {contest_id!r}") from None


def _list_candidate(election: Election, party_id: str, position: int, lang: Language) -> str:
    try:
        party = election.party_list.party(party_id)
        return party.candidates[position - 1].full(lang)
    except (KeyError, IndexError):
        raise ReportError(f"report: no candidate {position} on list {party_id!r}") from None


# --- blocks ----------------------------------------------------------------------------------


def _check(election: Election, data: ReportData) -> None:
    data.check()
    if data.election_id != election.election_id:
        raise ReportError(f"report for election {data.election_id!r}, names from "
                          f"{election.election_id!r}")
    if data.election_hash != election_hash(election):
        raise ReportError("report: election hash does not match the election it names")


def _header(election: Election, data: ReportData, lang: Language, title: str,
            copy: tuple[int, int] | None) -> list[Block]:
    blocks: list[Block] = []
    if data.mode is ReportMode.TEST:
        blocks += [Banner(label("test_banner", lang)), Spacer(8)]
    blocks += [SmallPrint(election.name.get(lang)), Spacer(6), Title(title), Spacer(6)]
    if copy is not None:
        blocks.append(Line(label("copy", lang, k=copy[0], n=copy[1]), bold=True))
    mode = label("official" if data.mode is ReportMode.OFFICIAL else "testmode", lang)
    blocks += [
        KeyValue(label("station", lang), data.station, bold=True),
        KeyValue(label("device", lang), data.device_id),
        KeyValue(label("time", lang), data.time),
        KeyValue(label("mode", lang), mode),
        Separator(),
    ]
    return blocks


def _sheets(data: ReportData, lang: Language) -> list[Block]:
    blocks: list[Block] = [
        KeyValue(label("sheets_cast", lang), str(data.sheets_cast), bold=True),
        KeyValue(label("marginal", lang), str(data.marginal_sheets)),
        KeyValue(label("returned", lang), str(data.returned_total)),
    ]
    rows = tuple((REASON_LABELS[r].get(lang), str(n)) for r, n in data.returned if n)
    if rows:
        blocks.append(Table(rows))
    return [*blocks, Separator()]


def _contest(election: Election, c: ContestTally, lang: Language) -> list[Block]:
    rows = tuple((option_name(election, c.contest, oid, lang), str(n))
                 for oid, n in _ballot_order(election, c))
    blocks: list[Block] = [
        Heading(contest_name(election, c.contest, lang)),
        Table(rows, header=(label("option", lang), label("votes", lang))),
        Separator(dashed=True),
        Table(((label("blank", lang), str(c.blank)),
               (label("overvote", lang), str(c.overvote)),
               (label("withdrawn", lang), str(c.withdrawn)))),
        KeyValue(label("valid", lang), str(c.valid)),
        KeyValue(label("invalid", lang), str(c.invalid)),
        KeyValue(label("ballots", lang), str(c.ballots), bold=True),
    ]
    if c.has_preferences:
        blocks += [Heading(label("pref_status", lang)),
                   Table(tuple((PREFERENCE_STATUS_LABELS[s].get(lang), str(n))
                               for s, n in c.preference_statuses)),
                   Heading(label("preferences", lang))]
        if not c.preferences:
            blocks.append(Line(label("pref_none", lang)))
        by_party: dict[str, list[tuple[int, int]]] = {}
        for (party, pos), n in c.preferences:
            by_party.setdefault(party, []).append((pos, n))
        for party_id, _ in _ballot_order(election, c):
            if party_id not in by_party:
                continue
            blocks.append(Line(option_name(election, c.contest, party_id, lang), bold=True))
            blocks.append(Table(tuple(
                (f"№{pos} {_list_candidate(election, party_id, pos, lang)}", str(n))
                for pos, n in by_party[party_id])))
    return [*blocks, Separator()]


def _ballot_order(election: Election, c: ContestTally) -> list[tuple[str, int]]:
    """Options in ballot order (against-all last), not in id order."""
    if c.contest == PARTY_LIST_CONTEST:
        order = list(election.party_list.option_ids)
    else:
        try:
            order = list(election.contest(c.contest).option_ids)
        except KeyError:
            order = []
    rank = {oid: i for i, oid in enumerate(order)}
    return sorted(c.options, key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _withdrawals(election: Election, w: Withdrawals, lang: Language) -> list[Block]:
    blocks: list[Block] = [Heading(label("withdrawals", lang))]
    if w.empty:
        return [*blocks, Line(label("withdrawals_none", lang)), Separator()]
    for party, pos in w.positions:
        name = election.party_list.party(party).name.get(lang)
        blocks.append(Line(f"{name}, №{pos}: {_list_candidate(election, party, pos, lang)}"))
    for cid in w.candidates:
        for contest in election.candidate_contests():
            for cand in contest.candidates:
                if cand.id == cid:
                    blocks.append(Line(f"{contest.name.get(lang)}: {cand.name.full(lang)}"))
    return [*blocks, Separator()]


def grouped(hex_hash: str, size: int = 8) -> str:
    """A hash in groups of ``size`` characters, so a person can read it out and compare."""
    return " ".join(hex_hash[i:i + size] for i in range(0, len(hex_hash), size))


def _identity(data: ReportData, lang: Language) -> list[Block]:
    return [
        Heading(label("identity", lang)),
        KeyValue(label("election_id", lang), data.election_id),
        KeyValue(label("election_hash", lang), grouped(data.election_hash)),
        KeyValue(label("package_hash", lang), grouped(data.package_hash)),
        KeyValue(label("software_hash", lang), grouped(data.software_hash)),
        KeyValue(label("audit_head", lang), grouped(data.audit_head_hash)),
        Separator(),
    ]


def _qr_blocks(texts: Sequence[str], lang: Language) -> list[Block]:
    blocks: list[Block] = []
    for k, text in enumerate(texts, 1):
        blocks += [QRCode(text, caption=label("qr_caption", lang, k=k, n=len(texts))),
                   Spacer(24)]
    return [*blocks, SmallPrint(label("qr_note", lang)), Separator()]


def _signatures(lang: Language) -> list[Block]:
    return [Spacer(8), Line(label("signatures", lang)),
            *[b for _ in range(3) for b in (Spacer(40), Separator(dashed=True))]]


def _figures_report(kind: ReportKind, election: Election, data: ReportData, lang: Language,
                    copies: int, device_key: Ed25519PrivateKey | None, part_chars: int
                    ) -> Report:
    if not 1 <= copies <= 20:
        raise ReportError(f"report: {copies} copies; 1..20 allowed")
    texts = (tuple(quickresults.encode(data, device_key, part_chars))
             if device_key is not None else ())
    body: list[Block] = _sheets(data, lang)
    for c in data.tally.contests:
        body += _contest(election, c, lang)
    body += _withdrawals(election, data.withdrawals, lang)
    body += _identity(data, lang)
    body += _qr_blocks(texts, lang) if texts else []
    if kind is ReportKind.TEST:
        body += [SmallPrint(label("test_note", lang)), Spacer(8),
                 Banner(label("test_banner", lang))]
    else:
        body += _signatures(lang)
    title = label(kind.value, lang)
    # The body is the same on every copy: laid out once (blocks render deterministically,
    # so each page is exactly ``layout([*header, *body])``); only the header differs.
    body_dots = layout(body)
    pages = []
    for k in range(1, copies + 1):
        header = _header(election, data, lang, title, (k, copies) if copies > 1 else None)
        pages.append(np.concatenate([layout(header), body_dots]))
    return Report(kind, lang, tuple(pages), texts)


# --- the reports -----------------------------------------------------------------------------


def zero_report(election: Election, data: ReportData, lang: Language) -> Report:
    """The zero report printed when polls open. Refuses non-zero figures."""
    _check(election, data)
    nonzero = data.nonzero_figures()
    if nonzero:
        shown = ", ".join(nonzero[:3]) + (" ..." if len(nonzero) > 3 else "")
        raise ReportError(f"zero report refused: {len(nonzero)} figure(s) are not zero "
                          f"({shown})")
    blocks: list[Block] = _header(election, data, lang, label("zero", lang), None)
    blocks += [Line(label("zero_note", lang), bold=True), Separator()]
    blocks += _sheets(data, lang)
    for c in data.tally.contests:
        blocks += _contest(election, c, lang)
    blocks += _withdrawals(election, data.withdrawals, lang)
    blocks += _identity(data, lang)
    blocks += _signatures(lang)
    return Report(ReportKind.ZERO, lang, (layout(blocks),))


def results_report(election: Election, data: ReportData, lang: Language, copies: int = 1,
                   device_key: Ed25519PrivateKey | None = None,
                   part_chars: int = quickresults.DEFAULT_PART_CHARS) -> Report:
    """The results report at polls close, in ``copies`` copies, with signed QR codes."""
    _check(election, data)
    if data.mode is not ReportMode.OFFICIAL:
        raise ReportError("results report refused: the figures are from test mode")
    return _figures_report(ReportKind.RESULTS, election, data, lang, copies, device_key,
                           part_chars)


def test_report(election: Election, data: ReportData, lang: Language,
                device_key: Ed25519PrivateKey | None = None,
                part_chars: int = quickresults.DEFAULT_PART_CHARS) -> Report:
    """The test (logic and accuracy) report, marked TEST at top and bottom."""
    _check(election, data)
    if data.mode is not ReportMode.TEST:
        raise ReportError("test report refused: the figures are official, not test")
    return _figures_report(ReportKind.TEST, election, data, lang, 1, device_key, part_chars)


test_report.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def audit_summary(election: Election, data: ReportData, audit: AuditSummary,
                  lang: Language) -> Report:
    """The audit-log summary: entries, kinds, checkpoints and the head hash."""
    _check(election, data)
    if audit.head_hash != data.audit_head_hash:
        raise ReportError("audit summary: the log's head hash differs from the report's")
    blocks: list[Block] = _header(election, data, lang, label("audit", lang), None)
    blocks += [
        KeyValue(label("audit_entries", lang), str(audit.entries), bold=True),
        KeyValue(label("audit_first", lang), audit.first_time),
        KeyValue(label("audit_last", lang), audit.last_time),
        KeyValue(label("audit_checkpoints", lang), str(audit.checkpoints)),
        Heading(label("audit_kinds", lang)),
        Table(tuple((kind, str(n)) for kind, n in audit.by_kind)),
        Separator(),
    ]
    blocks += _identity(data, lang)
    return Report(ReportKind.AUDIT, lang, (layout(blocks),))


# --- a sample, for the demo command and tests ------------------------------------------------


def sample_station(election: Election) -> Station:
    """The first station voting on a district (the default election has one)."""
    for s in election.stations:
        if s.district is not None:
            return s
    return election.stations[0]


def sample_report_data(election: Election, *, ballots: int = 300, seed: int = 2021,
                       mode: ReportMode = ReportMode.OFFICIAL, station: Station | None = None,
                       device_id: str = "DEV-0001", time: str = "2021-11-28T20:00:05Z"
                       ) -> ReportData:
    """Report data for a station with ``ballots`` random judged sheets (0 gives a zero report).

    Deterministic in ``seed``. Hashes other than the election's are fixed
    stand-ins, since no package, build or audit log exists in a sample.
    """
    rng = random.Random(seed)
    station = station or sample_station(election)
    contests = station.contest_ids()
    builder = TallyBuilder.empty(election, contests)
    parties = election.party_list.parties
    for _ in range(ballots):
        cid = rng.choice(contests)
        roll = rng.random()
        if cid == PARTY_LIST_CONTEST:
            options = list(election.party_list.option_ids)
            kind = BallotKind.PARTY_LIST
        else:
            options = list(election.contest(cid).option_ids)
            kind = election.contest(cid).kind
        if roll < 0.04:
            marked: set[str] = set()
        elif roll < 0.07:
            marked = set(rng.sample(options, 2))
        else:
            marked = {options[min(int(rng.expovariate(0.25)), len(options) - 1)]}
        selections: dict[str, set[str]] = {cid: marked}
        if kind is BallotKind.PARTY_LIST and rng.random() < 0.5 and marked:
            party_id = sorted(marked)[0]
            length = next((p.list_length for p in parties if p.id == party_id), 10)
            selections[PREFERENCE_CONTEST] = {str(rng.randint(1, max(1, length)))}
        builder.add(judge_ballot(election, kind, cid, selections))
    tally: Tally = builder.build()
    returned = ((RejectReason.REGISTRATION, ballots // 60), (RejectReason.NOT_A_BALLOT,
                                                             ballots // 150))
    return ReportData(
        election_id=election.election_id, election_hash=election_hash(election),
        package_hash="5" * 64, software_hash="a" * 64, device_id=device_id,
        station=station.number, audit_head_hash="c" * 64, time=time, mode=mode,
        sheets_cast=ballots, tally=tally,
        returned=tuple((r, n) for r, n in returned if n),
        marginal_sheets=ballots // 40, withdrawals=Withdrawals.of(election))
