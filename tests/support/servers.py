"""Start the API under gunicorn on a loopback port, as production runs it, for a test."""

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.tcp_proxy import free_port

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "served-tests-secret-key-0123456789abcdef"
PUBLIC_BASE_URL = "http://127.0.0.1"
START_TIMEOUT = 60
BIND_ATTEMPTS = 3


class PortTakenError(RuntimeError):
    """gunicorn could not bind: another process took the port meanwhile."""


class GunicornServer:
    """One gunicorn instance with the project's gunicorn.conf.py; stopped by stop()."""

    def __init__(self, database_url, workers=2, threads=8, **env):
        """Prepare the environment: production config, cheap bcrypt, a shared key."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "FLASK_CONFIG": "production",
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATABASE_URL": database_url,
            "BCRYPT_LOG_ROUNDS": "4",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            # One address for every instance (the tokens' issuer and audience): a
            # deployment's instances share it, whatever port each has here.
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_ACCESS_LOG": "",
            # Load and race tests send many requests from 127.0.0.1 on purpose.
            "RATELIMIT_ENABLED": "false",
            # Mails are printed to the output (tests that read them from SMTP say so),
            # by a sender only where a test asks for one: a sender still working
            # after its test would write into the next test's database.
            "MAIL_BACKEND": "console",
            "MAIL_SEND_IN_BACKGROUND": "false",
            **env,
        }
        self.process = None
        self.output = []

    def start(self):
        """Start gunicorn and return once its socket listens (requests then queue).

        Another test process may take the free port first: then on another one.
        """
        for _ in range(BIND_ATTEMPTS - 1):
            try:
                return self._start()
            except PortTakenError:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.env["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
                self.output = []
        return self._start()

    def _start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # Its own process group: stop() ends the workers too, even hung ones
            # that a killed master would leave behind (holding our stderr pipe).
            start_new_session=True,
        )
        lines = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                self.stop()
                raise RuntimeError("gunicorn did not start:\n" + "".join(self.output)) from None
            if line is not None and "Connection in use" in line:
                self.stop()  # gunicorn would retry the same port for 5 s
                raise PortTakenError(line)
            if line is None:
                self.stop()
                raise RuntimeError("gunicorn exited:\n" + "".join(self.output))
            if "Listening at:" in line:
                return self

    def run_refused(self):
        """Run gunicorn expecting it to refuse its configuration; return the finished process.

        Fails the test if gunicorn is still running after START_TIMEOUT.
        """
        try:
            return subprocess.run(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"gunicorn kept running with a refused configuration: {error.stderr}")

    def _read(self, lines):
        for line in self.process.stderr:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def stop(self):
        """Stop this gunicorn and its workers (its process group), gracefully, then by force."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            # Workers outlive a master that exited or was killed; the group ends them.
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.process.stderr.close()


NGINX_SITE = ROOT / "deploy" / "nginx" / "flask_api_tutorial.conf"


class NginxFront:
    """nginx, as the shipped file configures it, in front of one gunicorn; stopped by stop().

    The file is used as it is, but for the addresses: nginx listens on a free
    loopback port, and its upstream is ``upstream_port``. Everything nginx writes
    stays in ``directory``.
    """

    def __init__(self, directory, upstream_port):
        """Write the configuration in ``directory``; nothing runs until start()."""
        self.program = shutil.which("nginx") or "/usr/sbin/nginx"
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = NGINX_SITE.read_text()
        site = re.sub(
            r"(?m)^(\s*)server 127\.0\.0\.1:\d+;\n(?:\1server [^\n]+;\n)*",
            rf"\1server 127.0.0.1:{upstream_port};\n",
            site,
            count=1,
        )
        site = re.sub(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{self.port};", site)
        (directory / "site.conf").write_text(site)
        self.config = directory / "nginx.conf"
        self.config.write_text(
            "daemon off;\n"
            "user root;\n"  # its workers write the tests' temporary folders
            "worker_processes 1;\n"
            f"pid {directory}/nginx.pid;\n"
            f"error_log {directory}/error.log;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    access_log {directory}/access.log;\n"
            f"    client_body_temp_path {directory}/body;\n"
            f"    proxy_temp_path {directory}/proxy;\n"
            f"    fastcgi_temp_path {directory}/fastcgi;\n"
            f"    uwsgi_temp_path {directory}/uwsgi;\n"
            f"    scgi_temp_path {directory}/scgi;\n"
            f"    include {directory}/site.conf;\n"
            "}\n"
        )
        self.process = None

    def start(self):
        """Start nginx (its own process group) and return once it answers."""
        self.process = subprocess.Popen(
            [self.program, "-c", str(self.config), "-p", str(self.directory)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.error_log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                threading.Event().wait(0.05)
        self.stop()
        raise RuntimeError("nginx did not start:\n" + self.error_log())

    def error_log(self):
        """Return what nginx wrote to its error log."""
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        """Stop this nginx (its process group): gracefully, then by force."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
