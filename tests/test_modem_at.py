"""The AT stream parser: arbitrary bytes give only typed events; known streams round-trip."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.hal.modem import ModemProtocolError, Registration, SignalQuality, SimState
from protocol.at import (
    MAX_LINE_BYTES,
    AtStreamParser,
    CipError,
    Data,
    Echo,
    Event,
    Final,
    Info,
    LinkClosed,
    NetworkClosed,
    Noise,
    Prompt,
    RecvFrom,
    cme_code,
    parse_cpin,
    parse_csq,
    parse_ints,
    parse_registration,
)

EVENT_TYPES = (Final, Info, Prompt, NetworkClosed, LinkClosed, CipError, RecvFrom, Data, Echo,
               Noise)


def merged(events: list[Event]) -> list[Event]:
    """Adjacent Data events joined (a payload may be split anywhere)."""
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].payload + ev.payload)
        else:
            out.append(ev)
    return out


def feed_split(stream: bytes, cuts: list[int]) -> list[Event]:
    parser = AtStreamParser()
    events: list[Event] = []
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for a, b in itertools.pairwise(points):
        events += parser.feed(stream[a:b])
    return events


@settings(max_examples=300)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 4000), max_size=12))
def test_arbitrary_bytes_give_only_typed_events_whatever_the_split(
        stream: bytes, cuts: list[int]) -> None:
    whole = AtStreamParser().feed(stream)
    split = feed_split(stream, cuts)
    assert all(isinstance(ev, EVENT_TYPES) for ev in whole)
    assert merged(whole) == merged(split)
    for ev in whole:
        if isinstance(ev, Noise):
            assert 0 < len(ev.raw) <= MAX_LINE_BYTES


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["\r", "\n", ">", "+IPD", "3", "12", "OK", "ERROR", "AT",
                                 "+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", "+IPCLOSE: 0,",
                                 "RECV FROM:", "\x00", "\xff", " "]), max_size=60),
       st.lists(st.integers(0, 400), max_size=8))
def test_dialect_shaped_noise_never_escapes(pieces: list[str], cuts: list[int]) -> None:
    stream = "".join(pieces).encode("latin-1")
    assert merged(AtStreamParser().feed(stream)) == merged(feed_split(stream, cuts))


_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)

_item = st.one_of(
    st.just(("OK", Final(True, "OK"))),
    st.just(("ERROR", Final(False, "ERROR"))),
    st.integers(0, 999).map(lambda n: (f"+CME ERROR: {n}", Final(False, f"+CME ERROR: {n}"))),
    _text.map(lambda t: (f"+TEST: {t}", Info(f"+TEST: {t}"))),
    st.just(("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", NetworkClosed())),
    st.tuples(st.integers(0, 9), st.integers(0, 2)).map(
        lambda lr: (f"+IPCLOSE: {lr[0]},{lr[1]}", LinkClosed(*lr))),
    st.integers(0, 255).map(lambda c: (f"+CIPERROR: {c}", CipError(c))),
    _text.map(lambda t: (f"AT+{t}", Echo(f"AT+{t}"))),
    st.just((">", Prompt())),
    st.binary(min_size=1, max_size=3000).map(lambda p: (p, Data(p))),
)


@settings(max_examples=200)
@given(st.lists(_item, max_size=25), st.lists(st.integers(0, 80_000), max_size=20))
def test_modem_streams_round_trip(items: list[tuple[str | bytes, Event]],
                                  cuts: list[int]) -> None:
    stream = bytearray()
    expected: list[Event] = []
    for wire, event in items:
        if isinstance(wire, bytes):
            stream += b"\r\nRECV FROM:127.0.0.1:7000\r\n+IPD%d\r\n" % len(wire) + wire
            expected += [RecvFrom("127.0.0.1:7000"), event]
        elif wire == ">":
            stream += b"\r\n> "
            expected.append(event)
        else:
            stream += b"\r\n" + wire.encode() + b"\r\n"
            expected.append(event)
    assert merged(feed_split(bytes(stream), cuts)) == merged(expected)


def test_ipd_header_split_at_its_carriage_return() -> None:
    parser = AtStreamParser()
    assert parser.feed(b"\r\n+IPD6\r") == []
    assert parser.feed(b"\n\r\nab") == [Data(b"\r\nab")]
    assert parser.in_payload
    assert parser.feed(b"\r\nOK\r\n") == [Data(b"\r\n"), Final(True, "OK")]
    assert not parser.in_payload


def test_malformed_urcs_and_huge_ipd_are_noise() -> None:
    events = AtStreamParser().feed(b"+IPCLOSE: x,1\r\n+CIPERROR: \r\n+IPD0\r\n+IPD9999999\r\n"
                                   b"\xfe\xfe\r\n")
    assert all(isinstance(ev, Noise) for ev in events) and len(events) == 5


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_line_parsers_return_values_or_typed_errors(text: str) -> None:
    for parse in (parse_csq, parse_cpin, lambda t: parse_registration(t, "+CREG"),
                  lambda t: parse_ints(t, "+CIPSEND")):
        try:
            value = parse(text)
        except ModemProtocolError as exc:
            assert "\n" not in str(exc)
        else:
            assert isinstance(value, SignalQuality | SimState | Registration | list)
    code = cme_code(text)
    assert code is None or code >= 0


def test_line_parsers_on_real_answers() -> None:
    assert parse_csq("+CSQ: 23,99") == SignalQuality(23, 99)
    assert parse_csq("+CSQ: 99,99").dbm is None and parse_csq("+CSQ: 31,0").dbm == -51
    assert parse_registration("+CREG: 0,5", "+CREG") is Registration.ROAMING
    assert parse_registration("+CGREG: 3", "+CGREG") is Registration.DENIED
    assert parse_registration('+CREG: 2,1,"1A2B","00C3D4E5"', "+CREG") is Registration.HOME
    assert parse_cpin("+CPIN: READY") is SimState.READY
    assert parse_cpin("+CPIN: SIM PIN") is SimState.LOCKED
    assert parse_cpin("+CME ERROR: 10") is SimState.ABSENT
    assert parse_cpin("+CME ERROR: 13") is SimState.ERROR
    assert parse_ints("+CIPSEND: 0,1500,1500", "+CIPSEND") == [0, 1500, 1500]
    assert parse_ints("+CIPSEND: 0,5,-1", "+CIPSEND") == [0, 5, -1]
