"""Fixed wording printed on the ballots, in Kyrgyz and Russian.

Layouts take every string from here or from the election definition, so the
geometry never depends on which language is printed.
"""

from __future__ import annotations

from election.model import BallotKind, Text

TITLE = Text(ky="ШАЙЛОО БЮЛЛЕТЕНИ", ru="ИЗБИРАТЕЛЬНЫЙ БЮЛЛЕТЕНЬ")

AGAINST_ALL = Text(ky="Баарына каршы", ru="Против всех")

SELF_NOMINATED = Text(ky="өзүн-өзү көрсөткөн", ru="самовыдвижение")

SUBTITLE = {
    BallotKind.PARTY_LIST: Text(
        ky="Бирдиктүү шайлоо округу боюнча саясий партиялардын тизмелери",
        ru="Единый избирательный округ: списки политических партий",
    ),
    BallotKind.DISTRICT: Text(
        ky="№ {number} бир мандаттуу шайлоо округу: {name}",
        ru="Одномандатный избирательный округ № {number}: {name}",
    ),
    BallotKind.LOCAL: Text(
        ky="{name} жергиликтүү кеңешинин депутаттарын шайлоо",
        ru="Выборы депутатов местного кенеша: {name}",
    ),
}

PART1_HEADING = Text(
    ky="1-бөлүк. Бир гана партиянын же «Баарына каршы» сабынын оң жагындагы чарчыга белги коюңуз.",
    ru="Часть 1. Поставьте знак в квадрате справа от одной партии или строки «Против всех».",
)

PART2_HEADING = Text(
    ky="2-бөлүк. Добуш берген партияңыздын тизмесинен бир талапкердин номерин белгилеңиз.",
    ru="Часть 2. Отметьте номер одного кандидата из списка партии, за которую голосуете.",
)

PART2_NOTE = Text(
    ky="Милдеттүү эмес. Номер партиянын тизмесиндеги талапкердин ордун билдирет.",
    ru="Необязательно. Номер означает место кандидата в списке партии.",
)

CANDIDATE_HEADING = Text(
    ky="Бир гана талапкердин же «Баарына каршы» сабынын оң жагындагы чарчыга белги коюңуз.",
    ru="Поставьте знак в квадрате справа от одного кандидата или строки «Против всех».",
)

FOOTER = Text(
    ky="Бюллетенди бүктөбөңүз. Штрих-кодго жана четки белгилерге эч нерсе жазбаңыз.",
    ru="Не складывайте бюллетень. Не пишите на коде и на краевых метках.",
)

KIND_SHORT = {
    BallotKind.PARTY_LIST: "PL",
    BallotKind.DISTRICT: "D",
    BallotKind.LOCAL: "L",
}
