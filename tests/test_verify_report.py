"""QR round trip through a photo: the printed roll, photographed, checked by ``pcos verify-report``.

The roll is what the virtual printer decoded from the ESC/POS bytes it
received on its pty; the photo is perspective-warped, blurred, unevenly lit,
noised and saved as a real JPEG (or PNG) file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import printer_fixtures as fx
import pytest

from election.model import Language
from firmware import crypto, escpos, qrphoto, reports
from firmware.hal.printer import SerialPrinter, print_job
from simulator.photo import phone_photo
from simulator.printer import VirtualPrinter
from tools.cli import main


def _printed(report: reports.Report) -> np.ndarray:
    """The first piece of paper the virtual printer cut, from the report's bytes."""
    stream = report.escpos()
    with VirtualPrinter() as printer:
        with SerialPrinter(printer.port) as port:
            print_job(port, stream)
        assert printer.wait_received(len(stream) + 6), printer.error
        pieces = printer.pieces()
    assert escpos.same_paper(pieces, report.pages)
    return pieces[0]


def _tail_with_codes(paper: np.ndarray, codes: int) -> np.ndarray:
    """What a phone frames: the end of the report, with its QR codes."""
    paper = escpos.trim_white(paper)
    return paper[-(codes * 640 + 500):]


@pytest.fixture(scope="module")
def official() -> tuple[reports.Report, np.ndarray]:
    report = reports.results_report(fx.election(), fx.data(), Language.KY,
                                    device_key=fx.key(fx.DEVICE))
    return report, _printed(report)


def _files(tmp: Path) -> tuple[Path, Path]:
    cert = crypto.save_certificate(fx.device_cert(), tmp / "device.json")
    root = crypto.save_certificate(fx.root_cert(), tmp / "root.json")
    return cert, root


@pytest.mark.parametrize(("seed", "suffix"), [(1, ".jpg"), (2, ".png"), (3, ".jpg")])
def test_photo_of_the_roll_verifies_and_gives_the_figures(
        official: tuple[reports.Report, np.ndarray], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], seed: int, suffix: str) -> None:
    report, paper = official
    assert len(report.qr_texts) >= 2
    photo = phone_photo(_tail_with_codes(paper, len(report.qr_texts)),
                           tmp_path / f"photo{suffix}", seed)
    cert, root = _files(tmp_path)
    code = main(["verify-report", str(photo), "--cert", str(cert), "--cec-root", str(root),
                 "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    d = fx.data()
    assert doc["verified"] and doc["chain_checked"] and doc["codes"] == len(report.qr_texts)
    assert doc["tally"] == d.tally.to_json()
    assert (doc["sheets_cast"], doc["station"], doc["device"], doc["election_hash"]) == (
        d.sheets_cast, d.station, d.device_id, d.election_hash)
    assert doc["returned"] == {r.value: n for r, n in d.returned if n}


def test_zxing_reads_the_same_photo_independently(
        official: tuple[reports.Report, np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip("zxingcpp")
    report, paper = official
    photo = phone_photo(_tail_with_codes(paper, len(report.qr_texts)),
                           tmp_path / "photo.jpg", 4)
    image = qrphoto.load_grey(photo)
    assert sorted(qrphoto.decode_image(image, qrphoto.Engine.ZXING)) == sorted(report.qr_texts)
    assert sorted(qrphoto.decode_image(image, qrphoto.Engine.OPENCV)) == sorted(report.qr_texts)


def test_the_text_output_names_the_figures(official: tuple[reports.Report, np.ndarray],
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    report, paper = official
    png = tmp_path / "scan.png"
    from PIL import Image

    Image.fromarray(escpos.to_grey(_tail_with_codes(paper, len(report.qr_texts)))).save(png)
    cert, _ = _files(tmp_path)
    assert main(["verify-report", str(png), "--cert", str(cert)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("signature OK: device DEV-0001")
    p01 = fx.data().tally.contest("party-list").count("P01")
    assert any(line.split()[:2] == ["P01", str(p01)] for line in out.splitlines())


def test_a_tampered_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Codes carrying more votes for P01, re-signed by another key, printed and photographed."""
    d = fx.data()
    party = d.tally.contest("party-list")
    forged = _inflate_p01(d)
    report = reports.results_report(fx.election(), forged, Language.RU,
                                    device_key=fx.key(fx.OTHER_DEVICE))
    assert party.count("P01") + 5 == forged.tally.contest("party-list").count("P01")
    photo = phone_photo(_tail_with_codes(_printed(report), len(report.qr_texts)),
                           tmp_path / "forged.jpg", 5)
    cert, _ = _files(tmp_path)
    assert main(["verify-report", str(photo), "--cert", str(cert)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcos: error: quick results: signature does not verify against the "
                          "certificate of DEV-0001")


def test_another_devices_certificate_is_refused(
        official: tuple[reports.Report, np.ndarray], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    report, paper = official
    photo = phone_photo(_tail_with_codes(paper, len(report.qr_texts)),
                           tmp_path / "p.jpg", 6)
    other = crypto.save_certificate(fx.device_cert(n=fx.OTHER_DEVICE, subject="DEV-0002"),
                                    tmp_path / "other.json")
    assert main(["verify-report", str(photo), "--cert", str(other)]) == 2
    assert "signature does not verify against the certificate of DEV-0002" in (
        capsys.readouterr().err)
    rogue = crypto.save_certificate(fx.device_cert(issuer=fx.OTHER_DEVICE), tmp_path / "r.json")
    _, root = _files(tmp_path)
    assert main(["verify-report", str(photo), "--cert", str(rogue), "--cec-root",
                 str(root)]) == 2
    assert "certificate chain" in capsys.readouterr().err


def test_a_photo_without_codes_is_a_typed_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("L", (400, 300), 255).save(blank)
    cert, _ = _files(tmp_path)
    assert main(["verify-report", str(blank), "--cert", str(cert)]) == 2
    assert "no QR code could be decoded" in capsys.readouterr().err
    (tmp_path / "x.jpg").write_bytes(b"not an image")
    assert main(["verify-report", str(tmp_path / "x.jpg"), "--cert", str(cert)]) == 2
    assert "not a readable image" in capsys.readouterr().err


def _inflate_p01(d: reports.ReportData) -> reports.ReportData:
    import dataclasses

    from election.tally import Tally

    contests = []
    for c in d.tally.contests:
        if c.contest == "party-list":
            options = tuple((o, n + 5 if o == "P01" else n) for o, n in c.options)
            statuses = tuple((s, n + 5 if s.value == "none" else n)
                             for s, n in c.preference_statuses)
            c = dataclasses.replace(c, options=options, ballots=c.ballots + 5,
                                    preference_statuses=statuses)
        contests.append(c)
    return dataclasses.replace(d, tally=Tally(d.tally.election, tuple(contests)),
                               sheets_cast=d.sheets_cast + 5)
