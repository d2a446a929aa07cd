"""The benchmark runs end to end (about a second per phase), so that it never rots.

The figures of a one-second run are noise; the real runs are by hand (bench/README.md).
"""

import json
import os
import subprocess
import sys

import pytest

from tests.support import databases
from tests.support.databases import ON_POSTGRES
from tests.support.servers import ROOT

pytestmark = [pytest.mark.served]


@pytest.fixture
def bench_database():
    """Return a PostgreSQL database of the benchmark's own (it drops its tables), or None."""
    if not ON_POSTGRES:
        yield None
        return
    url = databases.new_empty_postgres_database("bench")
    yield url
    databases.drop_database(url)


def _bench(*arguments, database=None, timeout=300):
    """Run a bench/ script; DATABASE_URL is ``database`` (None: not set)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if database:
        env["DATABASE_URL"] = database
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _check_widgets(figures, section, stdout):
    assert section["widgets_scale"]["small_rps"] > 0
    assert section["widgets_scale"]["large_rps"] > 0
    assert section["list_vs_bare"]["pairs"]


def _check_user(figures, section, stdout):
    assert all(p["user_rps"] > 0 and p["bare_rps"] > 0 for p in section["user_vs_bare"]["pairs"])
    assert section["blacklist_scale"]["rows"] == 10_000
    assert section["blacklist_scale"]["full_rps"] > 0
    assert "[1] GET /auth/user vs bare Flask" in stdout


def _check_keys_and_metrics(figures, section, stdout):
    counted = section["metrics_on_vs_off"]
    assert all(p["on_rps"] > 0 and p["off_rps"] > 0 for p in counted["pairs"])
    signed = section["eddsa_vs_hs256"]
    assert all(p["eddsa_rps"] > 0 and p["hs256_rps"] > 0 for p in signed["pairs"])
    assert signed["verify_us"]["eddsa"] > 0 and signed["verify_us"]["hs256"] > 0


def _check_sqlite_only(figures, section, stdout):
    if ON_POSTGRES:  # targets 2, 3 and 5 measure the process, not the database
        assert not {"login_cost", "login_concurrency", "memory"} & set(figures)
        return
    assert figures["login_cost"]["login_ms"] > 0
    assert figures["login_cost"]["checkpw_ms"] > 0
    assert figures["login_concurrency"]["concurrent_logins_per_s"] > 0
    assert figures["memory"]["rss_late_kib"] > 0
    for title in ("[2] login", "[3] logins", "[5] worker"):
        assert title in stdout


# Every target, in groups of about equal length that xdist runs side by side (each
# target has ports of its own). The PostgreSQL run: PostgreSQL's targets only.
TARGET_GROUPS = {
    "6,7": _check_widgets,
    "1,4": _check_user,
    "8,9": _check_keys_and_metrics,
    "2,3,5": _check_sqlite_only,
}


@pytest.mark.database
@pytest.mark.parametrize("targets", list(TARGET_GROUPS))
def test_quick_benchmark_produces_every_figure(tmp_path, bench_database, targets):
    output = tmp_path / "bench.json"
    arguments = ["bench/run.py", "--quick", "--targets", targets, "--output", str(output)]
    if ON_POSTGRES:
        arguments += ["--databases", "postgresql"]
    result = _bench(*arguments, database=bench_database)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(output.read_text())
    (section,) = figures["databases"].values()
    assert set(figures["databases"]) == {"postgresql" if ON_POSTGRES else "sqlite"}
    TARGET_GROUPS[targets](figures, section, result.stdout)


def test_unknown_database_is_refused():
    result = _bench("bench/run.py", "--quick", "--databases", "postgresql", timeout=60)
    assert result.returncode == 2
    assert "no URL for postgresql (set DATABASE_URL)" in result.stderr
