"""Why a scanner returns a sheet, with the messages shown to the voter and the operator.

The reader (``vision``) decides the reason, the device (``firmware``) shows
the messages, and the simulator states which reason each fake sheet should
get, so the enum lives here, in the shared domain. The screens follow the
error screens seen on the Kyrgyz machines in the field (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from election.model import Text


class RejectReason(StrEnum):
    IMAGE_INVALID = "image-invalid"
    NOT_A_BALLOT = "not-a-ballot"
    REGISTRATION = "registration-failed"
    CODE_INVALID = "code-invalid"
    WRONG_ELECTION = "wrong-election"
    WRONG_CONTEST = "wrong-contest"
    STRIPE_MISMATCH = "stripe-mismatch"
    SECURITY_MISSING = "security-missing"
    SCALE = "scale-out-of-range"
    STREAK = "streak"
    DOUBLE_FEED = "double-feed"
    INTERNAL_ERROR = "internal-error"  # the reader failed: a bug, logged with its traceback


@dataclass(frozen=True)
class RejectMessage:
    voter: Text
    operator: Text


_TAKE_BACK = Text(ky="Бюллетенди кайра алыңыз.", ru="Заберите бюллетень.")

MESSAGES: dict[RejectReason, RejectMessage] = {
    RejectReason.IMAGE_INVALID: RejectMessage(
        Text(ky="Сканерлөө ишке ашкан жок. Кайра салыңыз.",
             ru="Не удалось отсканировать. Вставьте бюллетень ещё раз."),
        Text(ky="Сканер жараксыз сүрөт берди: сканерди текшериңиз.",
             ru="Сканер выдал негодное изображение: проверьте сканер."),
    ),
    RejectReason.NOT_A_BALLOT: RejectMessage(
        Text(ky="Бул шайлоо бюллетени эмес. " + _TAKE_BACK.ky,
             ru="Это не избирательный бюллетень. " + _TAKE_BACK.ru),
        Text(ky="Бюллетень эмес барак салынды.", ru="Вставлен лист, не являющийся бюллетенем."),
    ),
    RejectReason.REGISTRATION: RejectMessage(
        Text(ky="Бюллетень окулган жок. Түз кармап, кайра салыңыз.",
             ru="Бюллетень не прочитан. Вставьте его ровно ещё раз."),
        Text(ky="Четки белгилер окулган жок (бүктөлгөн, айрылган же булганган).",
             ru="Не прочитаны краевые метки (сгиб, разрыв или загрязнение)."),
    ),
    RejectReason.CODE_INVALID: RejectMessage(
        Text(ky="Бюллетендин коду окулган жок. " + _TAKE_BACK.ky,
             ru="Код бюллетеня не прочитан. " + _TAKE_BACK.ru),
        Text(ky="Бюллетендин коду жок же бузулган: бюллетенди комиссияга көрсөтүңүз.",
             ru="Код бюллетеня отсутствует или повреждён: передайте бюллетень комиссии."),
    ),
    RejectReason.WRONG_ELECTION: RejectMessage(
        Text(ky="Бул бюллетень бул шайлоого тиешелүү эмес. " + _TAKE_BACK.ky,
             ru="Этот бюллетень не относится к данным выборам. " + _TAKE_BACK.ru),
        Text(ky="Башка шайлоонун бюллетени.", ru="Бюллетень других выборов."),
    ),
    RejectReason.WRONG_CONTEST: RejectMessage(
        Text(ky="Бул бюллетень бул участокко тиешелүү эмес. " + _TAKE_BACK.ky,
             ru="Этот бюллетень не относится к этому участку. " + _TAKE_BACK.ru),
        Text(ky="Участоктун номери дал келбейт: башка округдун бюллетени.",
             ru="Несовпадение номера участка: бюллетень другого округа."),
    ),
    RejectReason.STRIPE_MISMATCH: RejectMessage(
        Text(ky="Бюллетендин түрү аныкталган жок. " + _TAKE_BACK.ky,
             ru="Вид бюллетеня не распознан. " + _TAKE_BACK.ru),
        Text(ky="Тилкенин түсү коддогу бюллетендин түрүнө дал келбейт.",
             ru="Цвет полосы не соответствует виду бюллетеня в коде."),
    ),
    RejectReason.SECURITY_MISSING: RejectMessage(
        Text(ky="Бюллетень кабыл алынган жок. " + _TAKE_BACK.ky,
             ru="Бюллетень не принят. " + _TAKE_BACK.ru),
        Text(ky="Коргоочу боек табылган жок: көчүрмө болушу мүмкүн.",
             ru="Защитная краска не обнаружена: возможна копия."),
    ),
    RejectReason.SCALE: RejectMessage(
        Text(ky="Бюллетендин өлчөмү туура эмес. " + _TAKE_BACK.ky,
             ru="Неверный размер бюллетеня. " + _TAKE_BACK.ru),
        Text(ky="Басылган масштаб туура эмес («баракка батыруу» менен басылган).",
             ru="Неверный масштаб печати (напечатан «по размеру страницы»)."),
    ),
    RejectReason.STREAK: RejectMessage(
        Text(ky="Сканерлөө ишке ашкан жок. " + _TAKE_BACK.ky,
             ru="Не удалось отсканировать. " + _TAKE_BACK.ru),
        Text(ky="Сканердин айнегинде так бар: сканерди тазалаңыз.",
             ru="Пятно на стекле сканера: очистите сканер."),
    ),
    RejectReason.DOUBLE_FEED: RejectMessage(
        Text(ky="Бир эле учурда бир нече барак салынды. Бирден салыңыз.",
             ru="Вставлено несколько листов сразу. Вставляйте по одному."),
        Text(ky="Кош берүү: бир нече барак.", ru="Двойная подача: несколько листов."),
    ),
    RejectReason.INTERNAL_ERROR: RejectMessage(
        Text(ky="Бюллетень окулган жок. Кайра салыңыз.",
             ru="Бюллетень не прочитан. Вставьте его ещё раз."),
        Text(ky="Сканердин программасындагы ички ката: журналды техникалык кызматка "
                "көрсөтүңүз.",
             ru="Внутренняя ошибка программы сканера: передайте журнал в техническую "
                "службу."),
    ),
}


def message(reason: RejectReason) -> RejectMessage:
    return MESSAGES[reason]
