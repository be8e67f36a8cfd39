"""What the display says in each state, in Kyrgyz and Russian.

Screen ids are the state values, so tests and the console can check which
screen is up without parsing text. A returned sheet shows the reader's
reason (``election.reject`` messages, after the error screens seen in the
field).
"""

from __future__ import annotations

from election.model import Text
from election.reject import RejectReason, message
from firmware.hal.display import Screen
from firmware.states import PollsState, ScannerState

T = Text

SCANNER: dict[ScannerState, Text] = {
    ScannerState.DISABLED: T(ky="Шайлоо жабык. Бюллетень кабыл алынбайт.",
                             ru="Голосование закрыто. Бюллетени не принимаются."),
    ScannerState.WAITING: T(ky="Бюллетенди салыңыз.", ru="Вставьте бюллетень."),
    ScannerState.FEEDING: T(ky="Бюллетень кабыл алынууда...", ru="Бюллетень принимается..."),
    ScannerState.SCANNING: T(ky="Сканерлөө...", ru="Сканирование..."),
    ScannerState.READING: T(ky="Бюллетень окулууда...", ru="Бюллетень распознаётся..."),
    ScannerState.NEEDS_REVIEW: T(
        ky="Бюллетенде көйгөй бар. Ошол бойдон салуу же кайра алуу тандаңыз.",
        ru="В бюллетене есть замечания. Выберите: опустить как есть или забрать."),
    ScannerState.ACCEPTING: T(ky="Бюллетень урнага түшүүдө...",
                              ru="Бюллетень опускается в урну..."),
    ScannerState.ACCEPTED: T(ky="Рахмат! Добушуңуз эсептелди.", ru="Спасибо! Ваш голос учтён."),
    ScannerState.RETURNING: T(ky="Бюллетень кайтарылууда...", ru="Бюллетень возвращается..."),
    ScannerState.RETURNED: T(ky="Бюллетенди кайра алыңыз.", ru="Заберите бюллетень."),
    ScannerState.JAMMED: T(ky="Кагаз тыгылды. Операторду чакырыңыз.",
                           ru="Замятие бумаги. Позовите оператора."),
    ScannerState.DOUBLE_SHEET: T(ky="Бир эле учурда бир нече барак. Бирден салыңыз.",
                                 ru="Несколько листов сразу. Вставляйте по одному."),
    ScannerState.COVER_OPEN: T(ky="Капкак ачык. Капкакты жабыңыз.",
                               ru="Крышка открыта. Закройте крышку."),
    ScannerState.PAPER_IN_PATH: T(ky="Кагаз жолунда барак калды: ал кайтарылат.",
                                  ru="В тракте остался лист: он будет возвращён."),
    ScannerState.STORAGE_FAILED: T(ky="Эс тутум катасы. Операторду чакырыңыз.",
                                   ru="Ошибка памяти. Позовите оператора."),
    ScannerState.CALIBRATING: T(ky="Калибрлөө режими. Бюллетендер кабыл алынбайт.",
                                ru="Режим калибровки. Бюллетени не принимаются."),
}

OPERATOR: dict[PollsState, Text] = {
    PollsState.NO_PACKAGE: T(ky="Шайлоо пакети жүктөлгөн эмес.", ru="Пакет выборов не загружен."),
    PollsState.PACKAGE_LOADED: T(ky="Пакет жүктөлдү. Сыноо режимине өтүңүз.",
                                 ru="Пакет загружен. Перейдите в тестовый режим."),
    PollsState.TEST_MODE: T(ky="СЫНОО РЕЖИМИ: бюллетендер расмий эсепке кирбейт.",
                            ru="ТЕСТОВЫЙ РЕЖИМ: бюллетени не входят в официальный подсчёт."),
    PollsState.POLLS_OPEN: T(ky="Добуш берүү ачык.", ru="Голосование открыто."),
    PollsState.POLLS_PAUSED: T(ky="Добуш берүү убактылуу токтотулду.",
                               ru="Голосование приостановлено."),
    PollsState.POLLS_CLOSED: T(ky="Добуш берүү жабылды. Жыйынтыктарды басып чыгарыңыз.",
                               ru="Голосование закрыто. Напечатайте итоги."),
    PollsState.RESULTS_REPORTED: T(ky="Жыйынтыктар басылып чыкты жана жөнөтүлдү.",
                                   ru="Итоги напечатаны и переданы."),
}

STORAGE_ACK: Text = T(
    ky="Эс тутумдун бири иштебейт: жабуу үчүн оператор ырастоосу керек.",
    ru="Один из носителей неисправен: для закрытия нужно подтверждение оператора.")


def screen(scanner: ScannerState, polls: PollsState, reason: str | None = None,
           detail: str = "") -> Screen:
    """The screen for a scanner state (with the reject reason, when a sheet came back)."""
    voter = SCANNER[scanner]
    operator = OPERATOR[polls]
    if reason is not None and reason in RejectReason.__members__.values():
        msg = message(RejectReason(reason))
        voter, operator = msg.voter, msg.operator
    return Screen(screen=scanner.value, voter=voter, operator=operator, detail=detail)
