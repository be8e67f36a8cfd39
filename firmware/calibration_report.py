"""The device calibration report on the thermal printer (ESC/POS raster, ky or ru).

Printed by calibration mode (:mod:`firmware.calibration_mode`) when a set is
calibrated or refused, through the device's report sink (``kind``
``"calibration"``: :mod:`firmware.printsink` lays it out here), and by
``pcos calibrate device --print``. It shows the device, station, print run,
the measured optical scale across and along the feed, white and black levels,
per ballot kind the stripe and security-band readings and the blank boxes'
noise, the result (calibrated, or the refusal's reason) and the signed
profile's SHA-256, in groups a person can read out.

The data is a JSON-able dict (:func:`report_data`), so the device's sink,
the command line and tests print from the same thing.
"""

from __future__ import annotations

from typing import Any

from election.model import Language, Text
from firmware.printout import (
    Banner,
    Block,
    Heading,
    KeyValue,
    Line,
    Separator,
    SmallPrint,
    Spacer,
    Table,
    Title,
    layout,
)
from firmware.reportdata import ReportError
from firmware.reports import Report, ReportKind, grouped

T = Text

LABELS: dict[str, Text] = {
    "title": T("ТҮЗМӨКТҮ КАЛИБРЛӨӨ", "КАЛИБРОВКА УСТРОЙСТВА"),
    "station": T("Шайлоо участогу", "Избирательный участок"),
    "device": T("Түзмөк", "Устройство"),
    "time": T("Убакыт (UTC)", "Время (UTC)"),
    "print_run": T("Басма партиясы", "Тираж"),
    "election_hash": T("Шайлоонун хэши", "Хэш выборов"),
    "calibrated": T("КАЛИБРЛЕНДИ", "ОТКАЛИБРОВАНО"),
    "refused": T("ЧЕТКЕ КАГЫЛДЫ", "ОТКАЗАНО"),
    "sheets": T("Салынган бош бюллетендер", "Вставлено пустых бюллетеней"),
    "not_used": T("Жараксыз барактар (кайтарылды)", "Непригодные листы (возвращены)"),
    "measured": T("Өлчөөлөр", "Измерения"),
    "scale_across": T("Оптикалык масштаб, туурасынан", "Оптический масштаб, поперёк"),
    "scale_along": T("Оптикалык масштаб, узунунан", "Оптический масштаб, вдоль"),
    "white": T("Ак деңгээли (RGB)", "Уровень белого (RGB)"),
    "black": T("Кара деңгээли (RGB)", "Уровень чёрного (RGB)"),
    "position": T("Басманын барактагы орду", "Положение печати на листе"),
    "shift": T("Басманын жылышы, мм (туурасынан / узунунан)",
               "Смещение печати, мм (поперёк / вдоль)"),
    "print_scale": T("Басманын масштабы (туурасынан / узунунан)",
                     "Масштаб печати (поперёк / вдоль)"),
    "position_unseen": T("текшерилген жок (барактын чети көрүнбөйт)",
                         "не проверено (край листа не виден)"),
    "stripe": T("Тилкенин түсү", "Цвет полосы"),
    "security": T("Коргоочу боек (хрома / үлгү)", "Защитная краска (хрома / узор)"),
    "boxes": T("Бош кутучалар", "Пустые поля"),
    "noise": T("Кутучалардын ызы-чуусу (орточо / эң чоң)", "Шум полей (средний / макс.)"),
    "raw_flagged": T("Калибрлөөсүз белгиленмек", "Отмечено бы без калибровки"),
    "cal_fill": T("Калибрлөө менен эң чоң толтуруу", "Макс. заполнение с калибровкой"),
    "none": T("жок", "нет"),
    "not_measured": T("Өлчөнгөн барак жок", "Нет измеренных листов"),
    "profile": T("Профилдин хэши (SHA-256)", "Хэш профиля (SHA-256)"),
    "profile_none": T("Профиль жазылган жок", "Профиль не записан"),
    "signer": T("Кол койгон ачкыч", "Ключ подписи"),
    "reason": T("Себеби", "Причина"),
}

KIND_LABELS: dict[str, Text] = {
    "party-list": T("Партиялык тизмелер", "Партийные списки"),
    "district": T("Бир мандаттуу округ", "Одномандатный округ"),
    "local": T("Жергиликтүү кеңеш", "Местный совет"),
}


def report_data(*, result: str, device: str, station: str, election_hash: str,
                print_run: str, time: str, fed: dict[str, int], not_used: int,
                summary: dict[str, Any] | None, fault: str | None = None,
                reason: Text | None = None, detail: str = "",
                profile_sha256: str | None = None, signer: str | None = None
                ) -> dict[str, Any]:
    """The calibration report's data (JSON-able): what the device hands its report sink."""
    if result not in ("calibrated", "refused"):
        raise ReportError(f"calibration report: result {result!r} is neither calibrated "
                          "nor refused")
    if result == "calibrated" and (profile_sha256 is None or summary is None):
        raise ReportError("calibration report: a calibrated result needs its profile hash "
                          "and measurements")
    return {"result": result, "device": device, "station": station,
            "election_hash": election_hash, "print_run": print_run, "time": time,
            "fed": dict(sorted(fed.items())), "not_used": not_used, "summary": summary,
            "fault": fault, "reason": None if reason is None else {"ky": reason.ky,
                                                                    "ru": reason.ru},
            "detail": detail, "profile_sha256": profile_sha256, "signer": signer}


def _label(key: str, lang: Language) -> str:
    return LABELS[key].get(lang)


def _rgb(v: list[float]) -> str:
    return " ".join(f"{x:.0f}" for x in v)


def _measurements(summary: dict[str, Any] | None, lang: Language) -> list[Block]:
    if summary is None:
        return [Line(_label("not_measured", lang)), Separator()]
    s, lv = summary["optical_scale"], summary["levels"]
    blocks: list[Block] = [
        Heading(_label("measured", lang)),
        KeyValue(_label("scale_across", lang), f"{s['across']:.4f} ±{s['across_sd']:.4f}"),
        KeyValue(_label("scale_along", lang), f"{s['along']:.4f} ±{s['along_sd']:.4f}"),
        KeyValue(_label("white", lang), _rgb(lv["white_rgb"])),
        KeyValue(_label("black", lang), _rgb(lv["black_rgb"])),
    ]
    pos = summary.get("print_position")
    if pos is None:
        blocks += [Line(_label("position", lang)), SmallPrint(_label("position_unseen", lang))]
    else:
        blocks += [KeyValue(_label("shift", lang),
                            f"{pos['shift_across_mm']:+.2f} / {pos['shift_along_mm']:+.2f}"),
                   KeyValue(_label("print_scale", lang),
                            f"{pos['scale_across']:.4f} / {pos['scale_along']:.4f}")]
    blocks.append(Separator())
    for kind, k in summary["kinds"].items():
        name = KIND_LABELS[kind].get(lang) if kind in KIND_LABELS else kind
        rows: list[tuple[str, str]] = [
            (_label("sheets", lang), str(k["sheets"])),
            (_label("stripe", lang), f"{k['stripe_class']} ("
                                     + " ".join(f"{v:.2f}" for v in k["stripe_ratio"]) + ")"),
            (_label("security", lang),
             f"{k['security_chroma']:.3f} / {k['security_pattern']:.3f}"),
            (_label("boxes", lang), str(k["boxes"])),
        ]
        if k["noise_mean"] is not None:
            rows.append((_label("noise", lang), f"{k['noise_mean']:.3f} / {k['noise_max']:.3f}"))
        rows.append((_label("raw_flagged", lang), str(k["raw_flagged"])))
        if k["calibrated_max_blank_fill"] is not None:
            rows.append((_label("cal_fill", lang), f"{k['calibrated_max_blank_fill']:.3f}"))
        blocks += [Heading(name), Table(tuple(rows))]
    return [*blocks, Separator()]


def calibration_report(data: dict[str, Any], lang: Language) -> Report:
    """The calibration report as a :class:`~firmware.reports.Report` (one copy)."""
    try:
        result = data["result"]
        blocks: list[Block] = [
            SmallPrint("PCOS-KG"), Spacer(6), Title(_label("title", lang)), Spacer(6),
            KeyValue(_label("station", lang), str(data["station"]), bold=True),
            KeyValue(_label("device", lang), str(data["device"])),
            KeyValue(_label("time", lang), str(data["time"])),
            KeyValue(_label("print_run", lang), str(data["print_run"] or "—")),
            KeyValue(_label("election_hash", lang), grouped(str(data["election_hash"])[:32])),
            Separator(),
        ]
        if result == "calibrated":
            blocks += [Banner(_label("calibrated", lang)), Spacer(8)]
        else:
            blocks += [Banner(_label("refused", lang)), Spacer(8)]
            reason = data.get("reason")
            if reason:
                blocks.append(Line(str(reason[lang.value]), bold=True))
            if data.get("fault"):
                blocks.append(KeyValue(_label("reason", lang), str(data["fault"])))
            if data.get("detail"):
                blocks.append(SmallPrint(str(data["detail"])))
            blocks.append(Spacer(8))
        fed = data["fed"]
        blocks += [KeyValue(_label("sheets", lang), str(sum(fed.values())), bold=True)]
        blocks += [Table(tuple((KIND_LABELS[k].get(lang) if k in KIND_LABELS else k, str(n))
                               for k, n in fed.items()))] if fed else []
        blocks += [KeyValue(_label("not_used", lang), str(data["not_used"])), Separator()]
        blocks += _measurements(data["summary"], lang)
        if data.get("profile_sha256"):
            blocks += [Line(_label("profile", lang), bold=True),
                       Line(grouped(str(data["profile_sha256"])))]
            if data.get("signer"):
                blocks.append(KeyValue(_label("signer", lang), str(data["signer"])[:16]))
        else:
            blocks.append(Line(_label("profile_none", lang)))
        blocks += [Separator(), Spacer(24)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"calibration report: missing or bad field {exc}") from None
    return Report(ReportKind.CALIBRATION, lang, (layout(blocks),))
