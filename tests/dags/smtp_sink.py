"""A real SMTP server on loopback for tests: asyncio, RFC 5321 subset, keeps what it receives.

aiosmtpd is not a dependency of the project, and the standard library dropped ``smtpd``; this is
the smallest server that speaks the protocol the Airflow SMTP hook (``smtplib``) uses: EHLO/HELO,
MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage


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
