"""Printed reports: layout time, ESC/POS size and pty transfer, and QR reading from photos.

For ``count`` seeded phone photos (perspective, blur σ 1.5 and 3 px, noise, JPEG q70) of the
end of a results report as printed by the virtual printer, the share whose QR
codes OpenCV (and, if installed, zxing-cpp) reads completely and whose
signature verifies, with the median decode time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Figure
from election.default import default_election
from election.model import Language
from firmware import crypto, escpos, qrphoto, quickresults, reports
from firmware.crypto import CertificateRole
from firmware.hal.printer import SerialPrinter, print_job
from simulator.photo import phone_photo
from simulator.printer import VirtualPrinter


def _zxing_available() -> bool:
    try:
        import zxingcpp  # noqa: F401
    except ImportError:
        return False
    return True


BLURS_PX = (1.5, 3.0)


def run(count: int = 20, seed: int = 2021, **_: object) -> list[Figure]:
    election = default_election()
    data = reports.sample_report_data(election, ballots=600, seed=seed)
    key = crypto.key_from_seed(bytes([9]) * 32)
    cert = crypto.issue_certificate(key, role=CertificateRole.DEVICE, subject=data.device_id,
                                    public_key=crypto.public_bytes(key), station=data.station,
                                    valid_from="2021-01-01T00:00:00Z",
                                    valid_until="2022-01-01T00:00:00Z")
    t = time.perf_counter()
    report = reports.results_report(election, data, Language.KY, 1, key)
    layout_s = time.perf_counter() - t
    stream = report.escpos()
    with VirtualPrinter() as printer:
        t = time.perf_counter()
        with SerialPrinter(printer.port) as port:
            print_job(port, stream)
        printer.wait_received(len(stream) + 6)
        transfer_s = time.perf_counter() - t
        paper = printer.pieces()[0]
        exact = escpos.same_paper(printer.pieces(), report.pages)
    tail = escpos.trim_white(paper)[-(len(report.qr_texts) * 640 + 500):]
    engines = [qrphoto.Engine.OPENCV] + ([qrphoto.Engine.ZXING] if _zxing_available() else [])
    photo_figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for blur_px in BLURS_PX:
            ok = {e: 0 for e in engines}
            times: dict[qrphoto.Engine, list[float]] = {e: [] for e in engines}
            for i in range(count):
                photo = phone_photo(tail, Path(tmp) / f"p{i}.jpg", seed + i, blur_px=blur_px)
                image = qrphoto.load_grey(photo)
                for engine in engines:
                    t = time.perf_counter()
                    texts = qrphoto.decode_image(image, engine)
                    times[engine].append(time.perf_counter() - t)
                    try:
                        results = quickresults.verify(quickresults.reassemble(texts), cert)
                        ok[engine] += int(results.matches(data))
                    except quickresults.QuickResultsError:
                        pass
            tag = f"blur{blur_px:g}".replace(".", "_")
            for engine in engines:
                photo_figures += [
                    Figure(f"photo_{tag}_verified_{engine.value}", f"{ok[engine]}/{count}"),
                    Figure(f"photo_{tag}_decode_{engine.value}_median_s",
                           round(float(np.median(times[engine])), 3), "s"),
                ]
    figures = [
        Figure("report_layout_s", round(layout_s, 3), "s"),
        Figure("report_rows", int(report.pages[0].shape[0]), "dots"),
        Figure("report_escpos_bytes", len(stream), "B"),
        Figure("pty_transfer_s", round(transfer_s, 3), "s"),
        Figure("roll_decoded_exactly", str(exact)),
        Figure("qr_codes", len(report.qr_texts)),
    ]
    figures += photo_figures
    return figures
