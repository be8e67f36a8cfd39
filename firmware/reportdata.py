"""What a printed report says: the typed figures and identity the device hands to the printer.

:class:`ReportData` is built by the device from its store at the moment of
printing; :mod:`firmware.reports` lays it out and :mod:`firmware.quickresults`
signs it into QR codes. It holds ids only; names come from the election model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from election.errors import PcosError
from election.model import Election
from election.reject import RejectReason
from election.tally import Tally, TallyError


class ReportError(PcosError):
    """Report data that cannot be printed as asked (non-zero zero report, inconsistent figures)."""


class ReportMode(StrEnum):
    OFFICIAL = "official"
    TEST = "test"


@dataclass(frozen=True)
class Withdrawals:
    """Withdrawals in force: party-list positions ``(party id, 1-based position)`` and
    district/council candidate ids."""

    positions: tuple[tuple[str, int], ...] = ()
    candidates: tuple[str, ...] = ()

    @classmethod
    def of(cls, election: Election) -> Withdrawals:
        """The withdrawals applied to ``election`` (after an amendment)."""
        positions = tuple(sorted((p.id, pos) for p in election.party_list.parties
                                 for pos in p.withdrawn_positions))
        candidates = tuple(sorted(c.id for contest in election.candidate_contests()
                                  for c in contest.candidates if c.withdrawn))
        return cls(positions, candidates)

    @property
    def empty(self) -> bool:
        return not self.positions and not self.candidates


@dataclass(frozen=True)
class ReportData:
    """The figures and identity on a report.

    ``time`` is ISO-8601 UTC (``2021-11-28T20:00:05Z``). Hashes are lowercase hex
    SHA-256. ``tally`` covers the station's contests; every sheet is one ballot
    of one contest, so ``sheets_cast`` equals the sum of the contests' ballots.
    ``returned`` counts sheets handed back to the voter, by reason (zero
    reasons may be left out); ``marginal_sheets`` counts cast sheets with at
    least one marginal mark.
    """

    election_id: str
    election_hash: str
    package_hash: str
    software_hash: str
    device_id: str
    station: str
    audit_head_hash: str
    time: str
    mode: ReportMode
    sheets_cast: int
    tally: Tally
    returned: tuple[tuple[RejectReason, int], ...] = ()
    marginal_sheets: int = 0
    withdrawals: Withdrawals = Withdrawals()

    def check(self) -> None:
        """Raise :class:`ReportError` if the figures do not fit together."""
        try:
            self.tally.check()
        except TallyError as exc:
            raise ReportError(f"report tally: {exc}") from None
        if self.tally.election != self.election_id:
            raise ReportError(f"report for election {self.election_id!r} carries a tally of "
                              f"{self.tally.election!r}")
        numbers = [self.sheets_cast, self.marginal_sheets, *(n for _, n in self.returned)]
        if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in numbers):
            raise ReportError("report: every count must be a non-negative integer")
        reasons = [r for r, _ in self.returned]
        if len(set(reasons)) != len(reasons):
            raise ReportError("report: a return reason is listed twice")
        ballots = sum(c.ballots for c in self.tally.contests)
        if ballots != self.sheets_cast:
            raise ReportError(f"report: {self.sheets_cast} sheets cast but the contests count "
                              f"{ballots} ballots")
        if self.marginal_sheets > self.sheets_cast:
            raise ReportError(f"report: {self.marginal_sheets} sheets with marginal marks of "
                              f"{self.sheets_cast} cast")

    @property
    def returned_total(self) -> int:
        return sum(n for _, n in self.returned)

    def returned_count(self, reason: RejectReason) -> int:
        return dict(self.returned).get(reason, 0)

    def nonzero_figures(self) -> list[str]:
        """Every figure that is not zero, named (empty for a true zero report)."""
        found = []
        if self.sheets_cast:
            found.append(f"sheets cast {self.sheets_cast}")
        if self.marginal_sheets:
            found.append(f"marginal sheets {self.marginal_sheets}")
        found += [f"returned {r.value} {n}" for r, n in self.returned if n]
        for c in self.tally.contests:
            found += [f"{c.contest} {oid} {n}" for oid, n in c.options if n]
            for name, n in (("ballots", c.ballots), ("blank", c.blank),
                            ("overvote", c.overvote), ("withdrawn", c.withdrawn)):
                if n:
                    found.append(f"{c.contest} {name} {n}")
            found += [f"{c.contest} preference {p}/{pos} {n}" for (p, pos), n in c.preferences]
        return found
