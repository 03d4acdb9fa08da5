"""Airflow for the DAG tests: a throw-away AIRFLOW_HOME with a SQLite metadata DB, and an SMTP server.

Airflow reads its configuration when it is first imported, so the environment is set here, at
conftest import, before any test module imports ``airflow``. Nothing touches ``~/airflow``.
"""

from __future__ import annotations

import asyncio
import atexit
import email
import email.policy
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"

if "airflow" in sys.modules:  # configured already, by someone else: refuse to guess where it points
    raise RuntimeError("airflow was imported before tests/dags/conftest.py could give it a temporary home")

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="nuchal-airflow-test-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # skops resolves names by probing every imported module; with Airflow imported that touches
    # hundreds of Airflow's deprecated aliases, each warning once. Noise, not a defect.
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.filterwarnings("ignore:The `airflow\\.:FutureWarning"))


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """The metadata DB, created once per session (about 2 s)."""
    from airflow.utils import db

    assert Path(os.environ["AIRFLOW_HOME"]) == _AIRFLOW_HOME
    db.initdb()
    yield _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> object:
    """The DAG files parsed the way the DAG processor parses a bundle (its folder on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")


@pytest.fixture
def dags_folder() -> Path:
    return DAGS_FOLDER


# --- a real SMTP server on loopback -------------------------------------------------------------
# aiosmtpd is not a dependency of the project and the standard library dropped ``smtpd``; this is
# the smallest server that speaks what Airflow's SMTP hook (smtplib) uses: EHLO/HELO, MAIL, RCPT,
# DATA with dot-unstuffing, RSET, NOOP, QUIT.


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.base_events.Server | None = None

    def start(self) -> SmtpSink:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._session, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("SMTP sink did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        mail_from, rcpt_to = "", []
        await reply("220 nuchal-test-sink ESMTP")
        try:
            while raw := await reader.readline():
                verb, _, arg = raw.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    await reply("250-nuchal-test-sink")
                    await reply("250 8BITMIME")
                elif verb == "HELO" or verb == "NOOP":
                    await reply("250 OK")
                elif verb == "MAIL":
                    mail_from, rcpt_to = arg.partition(":")[2].strip().strip("<>"), []
                    await reply("250 OK")
                elif verb == "RCPT":
                    rcpt_to.append(arg.partition(":")[2].strip().strip("<>"))
                    await reply("250 OK")
                elif verb == "DATA":
                    if not rcpt_to:
                        await reply("503 need RCPT first")
                        continue
                    await reply("354 end with <CRLF>.<CRLF>")
                    lines: list[bytes] = []
                    while (line := await reader.readline()) not in (b".\r\n", b""):
                        lines.append(line[1:] if line.startswith(b"..") else line)
                    msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                    assert isinstance(msg, EmailMessage)
                    self.messages.append(Received(mail_from, rcpt_to, msg))
                    await reply("250 OK queued")
                elif verb == "RSET":
                    mail_from, rcpt_to = "", []
                    await reply("250 OK")
                elif verb == "QUIT":
                    await reply("221 bye")
                    break
                else:
                    await reply("502 command not implemented")
        finally:
            writer.close()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """A loopback SMTP server, configured as the DAGs' `nuchal_smtp` connection."""
    sink = SmtpSink().start()
    conn = {
        "conn_type": "smtp",
        "host": sink.host,
        "port": sink.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 10},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NUCHAL_SMTP", json.dumps(conn))
    yield sink
    sink.stop()
