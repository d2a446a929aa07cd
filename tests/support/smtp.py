"""Mail servers for the tests: a real SMTP server in-process (aiosmtpd), and broken ones.

``MailCatcher`` accepts and keeps every message (or, while ``refusing``, answers each
with a temporary failure). ``BrokenSmtp`` listens and either closes every connection
at once (``drop``) or never says a word (``stall``). A port where nothing listens
refuses connections. All of them on 127.0.0.1 only, stopped by the test that started
them.
"""

import datetime
import ipaddress
import re
import socket
import ssl
import threading
import time
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.tcp_proxy import free_port

HOST = "127.0.0.1"
# The token of a mail: the line indented by four spaces (mail.py's texts).
TOKEN_LINE = re.compile(r"^ {4}(\S+)\s*$", re.MULTILINE)


class MailCatcher:
    """An SMTP server (aiosmtpd) on a loopback port that keeps what it receives.

    ``messages`` holds each message as an email.message.EmailMessage; with
    ``folder``, each is also written there as <number>.eml, for another process to
    read. With ``tls_context``, STARTTLS is offered, and required before any mail.
    """

    def __init__(self, port=None, tls_context=None, folder=None):
        """Prepare the server on ``port`` (default: a free one); start() starts it."""
        self.port = port or free_port()
        self.folder = folder
        self.messages = []
        self.refusing = False
        self.lock = threading.Lock()
        options = {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
        self.controller = Controller(self, hostname=HOST, port=self.port, **options)

    def start(self):
        """Start listening; return self."""
        self.controller.start()
        return self

    def stop(self):
        """Stop listening."""
        self.controller.stop()

    def __enter__(self):
        """Start the server for a with block."""
        return self.start()

    def __exit__(self, *exc_info):
        """Stop it at the end of the block."""
        self.stop()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """Keep the message, or refuse it for now (451) while ``refusing``."""
        if self.refusing:
            return "451 4.3.0 Try again later"
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append(message)
            if self.folder is not None:
                path = self.folder / f"{len(self.messages):04d}.eml"
                path.with_suffix(".tmp").write_bytes(envelope.content)
                path.with_suffix(".tmp").rename(path)  # whole, or not there
        return "250 OK"

    def to(self, address):
        """Return the messages sent to ``address``, oldest first."""
        with self.lock:
            return [message for message in self.messages if message["To"] == address]

    def wait_for(self, address, count=1, timeout=20):
        """Return ``count`` messages to ``address`` once they arrived (a served sender's)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.to(address)
            if len(messages) >= count:
                return messages
            time.sleep(0.05)
        raise AssertionError(f"{count} mail(s) to {address} did not arrive in {timeout} s")


def token_in(message):
    """Return the token a reset or verification mail carries."""
    match = TOKEN_LINE.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


class BrokenSmtp:
    """A listener that drops every connection at once (``drop``) or never answers (``stall``)."""

    def __init__(self, mode):
        """Listen on a free loopback port."""
        assert mode in ("drop", "stall")
        self.mode = mode
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        """Start accepting; return self."""
        self.thread.start()
        return self

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "drop":
                connection.close()
            else:
                self.held.append(connection)

    def stop(self):
        """Stop accepting and close every connection held."""
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()
        for connection in self.held:
            connection.close()

    def __enter__(self):
        """Start the listener for a with block."""
        return self.start()

    def __exit__(self, *exc_info):
        """Stop it at the end of the block."""
        self.stop()


def throwaway_certificate(folder):
    """Write a self-signed certificate for 127.0.0.1 and its key to ``folder``.

    Return (server SSL context, path of the certificate to trust).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / "smtp-cert.pem"
    key_path = folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path
