"""The modem as the device sees it: a byte-stream link to one TCP peer, plus radio status.

Why an interface: the device core and the protocol sender must not care whether the
bytes travel through a SIMCom SIM7600 on a serial port (``protocol.modem.Sim7600Modem``)
or anything else. Everything that can go wrong on the air or in the modem is a typed
:class:`ModemError` (a :class:`~election.errors.PcosError`) whose message is one line
an operator can act on; the sender retries on any of them (its outbox keeps the message
until a receipt arrives), so no error here can lose a ballot.

Stream semantics (the contract every implementation keeps):

- ``open(host, port)`` brings the radio up (SIM, signal, registration, packet data) and
  opens one TCP connection. Raises the precise reason if it cannot.
- ``send(data)`` returns only when the modem has confirmed every byte to the network
  (it does not wait for the peer's application). Raises :class:`LinkDroppedError` if the
  connection or network died, :class:`ModemTimeoutError` if the modem did not confirm in
  time, :class:`ModemNotRespondingError` if the modem is gone.
- ``recv(max_bytes, timeout_s)`` returns 1..max_bytes bytes as soon as any are available;
  ``b""`` only once the peer has closed the connection in order and every byte it sent
  has been returned (like a socket). No byte before ``timeout_s`` →
  :class:`ModemTimeoutError`; network lost → :class:`LinkDroppedError`.
- The link is a byte stream, nothing more: if the modem reports the same incoming block
  twice (a firmware fault), both copies are delivered. The protocol above frames,
  hashes and sequence-numbers its messages, so a duplicate is refused or idempotent.
- ``close()`` is best effort and never raises: it closes the connection and the packet
  data session and releases the port.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from election.errors import PcosError

#: Largest payload the SIM7600 accepts in one ``AT+CIPSEND``.
MAX_SEND_CHUNK_BYTES = 1500


class ModemError(PcosError):
    """Base of every modem failure; ``str(error)`` is one operator-facing line."""


class NoSimError(ModemError):
    """The SIM card is missing, locked or unreadable (``AT+CPIN?`` not READY)."""


class NoSignalError(ModemError):
    """No usable radio signal (``+CSQ: 99,...``) within the allowed time."""


class RegistrationDeniedError(ModemError):
    """The network refused registration (``+CREG: n,3``)."""


class NotRegisteredError(ModemError):
    """The modem did not register (home or roaming) within the allowed time."""


class NetworkOpenError(ModemError):
    """The packet data session (``AT+NETOPEN``) could not be opened."""


class ModemConnectError(ModemError):
    """The TCP connection to the server was refused or failed (``+CIPOPEN: 0,<err>``, err≠0)."""


class LinkDroppedError(ModemError):
    """An open connection died: network lost, peer reset, or the modem closed it."""


class ModemTimeoutError(ModemError):
    """The modem is alive but a step (prompt, send confirmation, data) did not finish in time."""


class ModemNotRespondingError(ModemError):
    """The modem answers nothing or its port vanished (powered off, unplugged, crashed)."""


class ModemProtocolError(ModemError):
    """The modem answered something the driver cannot interpret (bad firmware or line noise)."""


class Registration(enum.IntEnum):
    """``<stat>`` of ``+CREG``/``+CGREG`` (3GPP TS 27.007)."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5

    @property
    def usable(self) -> bool:
        """Home or roaming: data may flow."""
        return self in (Registration.HOME, Registration.ROAMING)


class SimState(enum.Enum):
    READY = "READY"
    ABSENT = "ABSENT"  # +CME ERROR: 10 (SIM not inserted)
    LOCKED = "LOCKED"  # SIM PIN / PUK etc.
    ERROR = "ERROR"  # any other failure


@dataclass(frozen=True)
class SignalQuality:
    """``+CSQ: <rssi>,<ber>``: rssi 0..31 (31 = -51 dBm or better), 99 = not known."""

    rssi: int
    ber: int

    @property
    def known(self) -> bool:
        return 0 <= self.rssi <= 31

    @property
    def dbm(self) -> int | None:
        """Approximate received power: -113 dBm + 2 dBm per step; None when unknown."""
        return -113 + 2 * self.rssi if self.known else None


@dataclass(frozen=True)
class ModemStatus:
    """What ``pcos modem probe`` shows and the device logs before sending."""

    sim: SimState
    signal: SignalQuality | None
    creg: Registration | None
    cgreg: Registration | None

    @property
    def ready(self) -> bool:
        """SIM ready, signal known and circuit or packet registration usable."""
        reg_ok = any(r is not None and r.usable for r in (self.creg, self.cgreg))
        return self.sim is SimState.READY and self.signal is not None and self.signal.known \
            and reg_ok

    def line(self) -> str:
        sig = "unknown" if self.signal is None or not self.signal.known \
            else f"{self.signal.rssi}/31 ({self.signal.dbm} dBm)"
        creg = self.creg.name.lower() if self.creg is not None else "?"
        cgreg = self.cgreg.name.lower() if self.cgreg is not None else "?"
        return f"sim={self.sim.value.lower()} signal={sig} creg={creg} cgreg={cgreg}"


@runtime_checkable
class ModemLink(Protocol):
    """A byte-stream link to one TCP peer through a modem. See the module docstring."""

    def status(self) -> ModemStatus:
        """SIM, signal and registration now (raises only if the modem is unreachable)."""
        ...

    def open(self, host: str, port: int) -> None:
        ...

    def send(self, data: bytes) -> None:
        ...

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        ...

    def close(self) -> None:
        ...
