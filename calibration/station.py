"""The ballot layouts a station's scanner meets: every kind it votes on, in each language."""

from __future__ import annotations

from election.layout import BallotLayout, ballot_layout
from election.model import BallotKind, Election, Language, Station


def station_layouts(election: Election, station: Station) -> list[BallotLayout]:
    """Party list, the station's district and council (when it has them), KY and RU each."""
    kinds: list[tuple[BallotKind, int | str | None]] = [(BallotKind.PARTY_LIST, None)]
    if station.district is not None:
        kinds.append((BallotKind.DISTRICT, station.district))
    if station.council is not None:
        kinds.append((BallotKind.LOCAL, station.council))
    return [ballot_layout(election, kind, contest, lang)
            for kind, contest in kinds for lang in Language]
