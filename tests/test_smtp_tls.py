"""Mail over implicit TLS (SMTP_USE_SSL): the settings' SMTP mailer, in a child process, sends
to a local SMTPS server whose self-signed certificate this test makes, and checks it."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_python

SEND = (
    "import django; django.setup()\n"
    "from django.core.mail import send_mail\n"
    "print(send_mail('Urgent case', 'Reference: ABCD2345', None, ['lead@clinic.test']))\n"
)


class SmtpsServer:
    """One SMTP conversation over TLS from the first byte on 127.0.0.1; what it received."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(60)
        self.port = self.listener.getsockname()[1]
        self.commands: list[str] = []
        self.data = b""
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            raw, _ = self.listener.accept()
            raw.settimeout(30)
            # The handshake comes before any SMTP: that is implicit TLS.
            with self.context.wrap_socket(raw, server_side=True) as tls:
                self._converse(tls.makefile("rwb"))
        except (OSError, ssl.SSLError) as error:
            self.error = error

    def _converse(self, stream) -> None:
        def reply(line: str) -> None:
            stream.write(line.encode() + b"\r\n")
            stream.flush()

        reply("220 localhost ESMTP test")
        while line := stream.readline():
            command = line.decode().strip()
            self.commands.append(command.split(" ", 1)[0].split(":", 1)[0].upper())
            verb = self.commands[-1]
            if verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                while (chunk := stream.readline()) not in (b".\r\n", b""):
                    self.data += chunk
                reply("250 OK: queued")
            elif verb == "QUIT":
                reply("221 Bye")
                return
            elif verb in ("EHLO", "HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                reply("250 localhost" if verb in ("EHLO", "HELO") else "250 OK")
            else:
                reply("502 Not implemented")

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    folder = tmp_path_factory.mktemp("smtps")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 - openssl with fixed arguments
        [  # noqa: S607 - the system's openssl
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def server(certificate: tuple[Path, Path]) -> Iterator[SmtpsServer]:
    smtps = SmtpsServer(*certificate)
    yield smtps
    smtps.close()


def mail_settings(server: SmtpsServer, **environ: str) -> dict[str, str]:
    return {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "DEFAULT_FROM_EMAIL": "clinic@clinic.test",
        **environ,
    }


def test_mail_goes_over_implicit_tls_to_a_relay_whose_certificate_is_trusted(server, certificate):
    cert, _ = certificate
    # SSL_CERT_FILE: OpenSSL's default trust store for the child, holding only this certificate.
    environ = mail_settings(server, SMTP_USE_SSL="true", SSL_CERT_FILE=str(cert))
    result = run_python(SEND, environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    server.thread.join(timeout=30)
    assert server.error is None
    assert server.commands[0] == "EHLO"
    assert "STARTTLS" not in server.commands
    assert server.commands[-1] == "QUIT"
    assert b"Reference: ABCD2345" in server.data
    assert b"To: lead@clinic.test" in server.data


def test_a_relay_whose_certificate_is_not_trusted_gets_no_mail(server):
    # The system's CAs do not hold the test's certificate: the mailer must refuse the relay.
    result = run_python(SEND, mail_settings(server, SMTP_USE_SSL="true"))
    assert result.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    server.thread.join(timeout=30)
    assert server.commands == []
    assert server.data == b""
