"""``pcos device console``: drive a device on simulated hardware from the terminal.

``pcos device console [--dir DIR] [--sheets DIR] [--station ID] [--election FILE]
[--policy kg-default|warn] [--device-id ID] [--lang ru|ky]
[--screenshot FILE.svg --press KEYS]``

The real firmware device runs on simulated hardware kept in ``--dir`` (a temp
dir by default; an existing one is restarted from its store). ``--sheets`` is
a ``pcos sim sheets`` folder of ``NNNNNN-front.png`` / ``-back.png`` pairs, fed
one by one. The station comes from ``--station`` or the folder's manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from election.errors import PcosError
from election.model import Language
from tools.common import add_election_option, load_election_arg

if TYPE_CHECKING:
    from election.model import Election
    from firmware.install import PackageTrust
    from tools.console.app import DeviceConsole


def _device_group(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
                  ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The ``device`` command group, created or joined (``pcos device provision`` lives in
    another module)."""
    existing = subparsers.choices.get("device")
    if existing is None:
        parser = subparsers.add_parser("device", help="device keys and tools",
                                       description="device keys and tools")
        subs = parser.add_subparsers(dest="device_command", metavar="ACTION")
        subs.required = True
        return subs
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise PcosError("command 'device' has no sub-commands to join")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subs = _device_group(subparsers)
    c = subs.add_parser("console", help="drive a simulated device from the terminal",
                        description="A terminal console over the real firmware on simulated "
                                    "hardware: the device screen (ky/ru), the operator's menu, "
                                    "feeding sheets from a folder, jams and power cuts.")
    c.add_argument("--dir", metavar="DIR", help="working directory: media, paper path, "
                   "printed reports (default: a temp dir; an existing one is restarted)")
    c.add_argument("--sheets", metavar="DIR", help="folder of NNNNNN-front.png/-back.png "
                   "pairs (as pcos sim sheets writes)")
    c.add_argument("--station", metavar="ID", help="polling station (default: the one the "
                   "sheets folder's manifest names)")
    add_election_option(c)
    c.add_argument("--policy", default="kg-default", choices=("kg-default", "warn"),
                   help="ballot policy (default kg-default)")
    c.add_argument("--device-id", default=None,
                   help="device id (default: the provisioned device's, else <station>-D1)")
    c.add_argument("--package", metavar="FILE",
                   help="signed election package to load (pcos package build); default: "
                        "one built for the station with the simulator's CEC keys")
    c.add_argument("--cec-root", metavar="CERT", help="CEC root certificate (with --package)")
    c.add_argument("--device-keys", metavar="DIR",
                   help="this device's key and certificate (pcos device provision)")
    c.add_argument("--amendment", metavar="FILE",
                   help="CEC-signed withdrawal amendment the `w` key applies")
    c.add_argument("--lang", default="ru", choices=("ru", "ky"), help="screen language")
    c.add_argument("--screenshot", metavar="FILE.svg", help="no terminal: run headless, press "
                   "the --press keys, save an SVG screenshot and exit (trainers' handouts)")
    c.add_argument("--press", default="", metavar="KEYS",
                   help="with --screenshot: keys to press first, space-separated (e.g. 'l t o f')")
    c.set_defaults(func=run_console)


def run_console(args: argparse.Namespace) -> int:
    from firmware.policy import BallotPolicy
    from firmware.reader_setup import make_reader, station_arg
    from tools.console.app import DeviceConsole
    from tools.console.session import ConsoleSession, SheetFolder

    election = load_election_arg(args.election)
    sheets = SheetFolder(Path(args.sheets)) if args.sheets else None
    station = station_arg(election, args.station, sheets.directory if sheets else None)
    with tempfile.TemporaryDirectory(prefix="pcos-console-") as tmp:
        workdir = Path(args.dir) if args.dir else Path(tmp)
        if workdir.exists() and not workdir.is_dir():
            raise PcosError(f"--dir {workdir}: not a directory")
        package, trust = _package_and_trust(args, election, station.number)
        amendment = _read(args.amendment, "amendment") if args.amendment else None
        session = ConsoleSession(workdir, election, station, make_reader(election, station),
                                 sheets, policy=BallotPolicy(args.policy),
                                 device_id=args.device_id or f"{station.number}-D1",
                                 package=package, trust=trust, reader_for=make_reader,
                                 amendment=amendment, print_language=Language(args.lang))
        try:
            app = DeviceConsole(session, language=args.lang)
            if args.screenshot:
                path = headless_screenshot(app, args.press.split(), Path(args.screenshot))
                print(f"wrote {path}")
            else:
                if args.press:
                    raise PcosError("--press needs --screenshot")
                app.run()
        finally:
            session.close()
    return 0


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PcosError(f"{what} {path}: cannot read ({exc.strerror})") from None


def _package_and_trust(args: argparse.Namespace, election: Election, station: str
                       ) -> tuple[bytes, PackageTrust]:
    """The signed package the operator loads, and what the device trusts: the given files,
    or (default) a package for the station signed with the simulator's CEC keys and a
    device provisioned by them."""
    from firmware.install import PackageTrust
    from firmware.provision import load_device, load_root_certificate
    from simulator.packaged import sim_cec_keys, sim_device, sim_package

    if args.package:
        if not args.cec_root or not args.device_keys:
            raise PcosError("--package needs --cec-root CERT and --device-keys DIR")
        try:
            trust = PackageTrust(root=load_root_certificate(args.cec_root),
                                 device=load_device(args.device_keys))
        except (OSError, ValueError) as exc:
            raise PcosError(f"cannot load the trust files: {exc}") from None
        return _read(args.package, "package"), trust
    keys = sim_cec_keys()
    device_id = args.device_id or f"{station}-D1"
    if not device_id.startswith(f"{station}-D"):
        raise PcosError(f"--device-id {device_id}: the simulated package assigns "
                        f"{station}-D1 and {station}-D2")
    return (sim_package(election, keys, (station,), 2),
            PackageTrust(root=keys.root_certificate, device=sim_device(keys, device_id, station)))


def headless_screenshot(app: DeviceConsole, keys: list[str], out: Path,
                        size: tuple[int, int] = (130, 46)) -> Path:
    """Run ``app`` headless (textual's test driver), press ``keys``, save an SVG."""
    if out.suffix.lower() != ".svg":
        raise PcosError(f"--screenshot {out}: use an .svg file name")

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await app.settle()
            await pilot.press(*keys)
            await app.settle()
            await pilot.pause()
            app.save_screenshot(filename=out.name, path=str(out.parent.resolve()))

    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(run())
    return out
