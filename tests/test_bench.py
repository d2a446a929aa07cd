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


def test_quick_benchmark_produces_every_figure(tmp_path, bench_database):
    """The SQLite run: every target. The PostgreSQL run: PostgreSQL's targets only."""
    output = tmp_path / "bench.json"
    arguments = ["bench/run.py", "--quick", "--output", str(output)]
    if ON_POSTGRES:
        arguments += ["--databases", "postgresql"]
    result = _bench(*arguments, database=bench_database)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert set(figures["databases"]) == {"postgresql" if ON_POSTGRES else "sqlite"}
    for section in figures["databases"].values():
        assert all(
            p["user_rps"] > 0 and p["bare_rps"] > 0 for p in section["user_vs_bare"]["pairs"]
        )
        counted = section["metrics_on_vs_off"]
        assert all(p["on_rps"] > 0 and p["off_rps"] > 0 for p in counted["pairs"])
        signed = section["eddsa_vs_hs256"]
        assert all(p["eddsa_rps"] > 0 and p["hs256_rps"] > 0 for p in signed["pairs"])
        assert signed["verify_us"]["eddsa"] > 0 and signed["verify_us"]["hs256"] > 0
        assert section["blacklist_scale"]["rows"] == 10_000
        assert section["blacklist_scale"]["full_rps"] > 0
        assert (
            section["widgets_scale"]["small_rps"] > 0 and section["widgets_scale"]["large_rps"] > 0
        )
        assert section["list_vs_bare"]["pairs"]
    assert "[1] GET /auth/user vs bare Flask" in result.stdout
    if ON_POSTGRES:
        assert not {"login_cost", "login_concurrency", "memory"} & set(figures)
        return
    assert figures["login_cost"]["login_ms"] > 0
    assert figures["login_cost"]["checkpw_ms"] > 0
    assert figures["login_concurrency"]["concurrent_logins_per_s"] > 0
    assert figures["memory"]["rss_late_kib"] > 0
    for title in ("[2] login", "[3] logins", "[5] worker"):
        assert title in result.stdout


def test_unknown_database_is_refused():
    result = _bench("bench/run.py", "--quick", "--databases", "postgresql", timeout=60)
    assert result.returncode == 2
    assert "no URL for postgresql (set DATABASE_URL)" in result.stderr
