"""The CEC store on a real PostgreSQL server, started by this test in a temporary cluster.

Needs Debian's ``postgresql`` package (binaries under /usr/lib/postgresql/*/bin); skipped
with that reason when they are absent. As root, the cluster runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from protocol_fixtures import make_world

from protocol.cec.consolidate import consolidate
from protocol.cec.ingest import Ingestor
from protocol.cec.server import ServerThread
from protocol.cec.store import PostgresStore, open_store, reset_postgres
from protocol.errors import Reason
from protocol.outbox import Outbox, Sender, TcpTransport
from protocol.receipts import ReceiptStatus

BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not BINS:
        pytest.skip("PostgreSQL binaries absent (apt-get install -y postgresql)")
    bindir = Path(BINS[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="pcos-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on", "start")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_ingest_idempotency_incidents_and_consolidation(postgres_url: str) -> None:
    reset_postgres(postgres_url)
    world = make_world()
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    ing = Ingestor(world.registry, store, clock=lambda: "2021-11-28T20:05:00Z")
    r = world.results("1001", 9)
    zero = world.message("1001-D1", world.zero("1001"))
    first = ing.process(world.envelope(zero)).receipt
    assert ing.process(world.envelope(world.message("1001-D1", r))).reason is None
    store.commit()
    assert ing.process(world.envelope(zero)).receipt == first  # duplicate: same receipt
    clash = world.message("1001-D1", world.results("1001", 10), sequence=2)
    assert ing.process(world.envelope(clash)).reason is Reason.CONFLICTING_CONTENT
    store.commit()
    assert store.count("messages") == 2 and len(store.incidents()) == 1
    assert consolidate(world.registry, store).station_tallies["1001"] == r.tally
    store.close()
    # a restarted server reads the same state back
    again = Ingestor(world.registry, open_store(postgres_url))
    assert again.process(world.envelope(zero)).receipt == first


def test_postgres_behind_the_tcp_server(postgres_url: str, tmp_path: Path) -> None:
    reset_postgres(postgres_url)
    world = make_world()
    store = open_store(postgres_url)
    outbox = Outbox(tmp_path / "outbox.db")
    m = world.messenger("1002-D1")
    for content in (world.zero("1002"), world.results("1002", 3)):
        m.queue(outbox, content, time="2021-11-28T20:05:00Z", audit_head="ef" * 32)
    with ServerThread(Ingestor(world.registry, store)) as srv:
        sender = Sender(outbox, TcpTransport, "127.0.0.1", srv.port, world.cec_public,
                        world.registry.signing_public)
        assert sender.send_due().delivered == 2
    assert [e.state.value for e in outbox.entries()] == ["delivered", "delivered"]
    check = open_store(postgres_url)
    assert [x.status for x in check.messages()] == [ReceiptStatus.ACCEPTED.value] * 2
