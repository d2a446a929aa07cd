"""A real network partition between the API and PostgreSQL: packets dropped, not refused.

The test makes a network namespace and a veth pair (names unique to this test
process, removed afterwards), runs the API inside the namespace, and reaches
PostgreSQL through a relay on the other end of the pair. Setting the outer end's
link down drops every packet, in both directions, as a partition does: nothing is
refused or reset, and only the client's own timeouts can end its wait. Traffic goes
to 127.0.0.1 and to the pair's link-local addresses (169.254.0.0/16) only.

With the command-deadline watcher off, libpq's tcp_user_timeout alone must answer
the waiting request (503) within its bound; without it, the request would still
wait.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.served]

ROOT = Path(__file__).resolve().parents[1]
TCP_USER_TIMEOUT_MS = 1500
# The answer may come this much later than tcp_user_timeout (the retransmission that
# notices, the 503's own work); far below what TCP alone would take (minutes).
MARGIN = 1.5
GIVE_UP = 6
DB_DOWN = {"message": "Service unavailable: the database cannot be reached."}


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


class Partition:
    """A namespace whose veth link to this host can be set down: made here, removed by remove()."""

    def __init__(self):
        """Name everything after this process, so that parallel test processes never clash."""
        pid = os.getpid()
        self.namespace = f"fat-part-{pid}"
        self.outer = f"fpo{pid}"[:15]
        self.inner = f"fpi{pid}"[:15]
        subnet = pid % 16384  # a /30 of 169.254.0.0/16 per process
        prefix = f"169.254.{subnet // 64}.{subnet % 64 * 4}"
        base = prefix.rsplit(".", 1)[0]
        last = int(prefix.rsplit(".", 1)[1])
        self.outer_address = f"{base}.{last + 1}"
        self.inner_address = f"{base}.{last + 2}"

    def make(self):
        """Create the namespace and the pair, addressed and up; skip where the kernel refuses."""
        if shutil.which("ip") is None:
            pytest.skip("needs iproute2's ip command")
        made = _ip("netns", "add", self.namespace, check=False)
        if made.returncode != 0:
            pytest.skip(f"the kernel refuses a network namespace here: {made.stderr.strip()}")
        try:
            _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
            _ip("link", "set", self.inner, "netns", self.namespace)
            _ip("addr", "add", f"{self.outer_address}/30", "dev", self.outer)
            _ip("link", "set", self.outer, "up")
            inside = ["netns", "exec", self.namespace, "ip"]
            _ip(*inside, "addr", "add", f"{self.inner_address}/30", "dev", self.inner)
            _ip(*inside, "link", "set", self.inner, "up")
            _ip(*inside, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise
        return self

    def cut(self):
        """Set the outer end down: from now on every packet on the link is dropped."""
        _ip("link", "set", self.outer, "down")

    def remove(self):
        """Remove the namespace (and with it the pair)."""
        _ip("link", "del", self.outer, check=False)
        _ip("netns", "del", self.namespace, check=False)


@pytest.fixture
def partition():
    made = Partition().make()
    yield made
    made.remove()


def _start_client(partition, database_url, relay, **settings):
    """Start the API inside the namespace, on the database reached through ``relay``."""
    url = make_url(database_url).set(host=partition.outer_address, port=relay.port)
    config = {
        "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
        # No idle ping: the token check's own statement meets the partition.
        "DB_PING_AFTER_IDLE_SECONDS": 3600,
        "DB_COMMAND_DEADLINE": False,
        **settings,
    }
    client = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            partition.namespace,
            sys.executable,
            "-m",
            "tests.support.partition_client",
            json.dumps(config),
            str(GIVE_UP),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = client.stdout.readline().strip()
    assert ready == "ready", ready + client.stderr.read()
    return client


def _request(client):
    client.stdin.write("request\n")
    client.stdin.flush()
    return json.loads(client.stdout.readline())


def _stop(client):
    client.stdin.close()
    try:
        client.wait(timeout=GIVE_UP + 5)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait()
    client.stdout.close()
    client.stderr.close()


@pytest.mark.parametrize("tcp_user_timeout", [TCP_USER_TIMEOUT_MS, 0], ids=["set", "off"])
def test_partition_is_answered_503_by_tcp_user_timeout_alone(
    served_database, partition, tcp_user_timeout
):
    url = make_url(served_database)
    relay = TcpProxy(url.host, url.port, listen_host=partition.outer_address).start()
    client = _start_client(
        partition, served_database, relay, DB_TCP_USER_TIMEOUT_MS=tcp_user_timeout
    )
    try:
        before = _request(client)
        assert before["status"] == 200, before
        partition.cut()
        during = _request(client)
    finally:
        _stop(client)
        relay.cut()
    if tcp_user_timeout:
        assert during["status"] == 503, during
        assert during["body"] == DB_DOWN
        assert during["seconds"] < TCP_USER_TIMEOUT_MS / 1000 + MARGIN
    else:
        # The control: without it (and without the watcher) nothing ends the wait.
        assert during == {"status": None}
