"""Run a command (the test suite) against a fresh PostgreSQL database, then drop it.

    python -m tests.support.run_postgres pytest [args...]

The server is $POSTGRES_ADMIN_URL (default: the local server as user postgres).
When it cannot be reached the run is skipped with a message, unless
REQUIRE_POSTGRES=1 (as in CI), which makes that a failure.
"""

import os
import subprocess
import sys
import uuid

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def main(command):
    """Create the database, run ``command`` with TEST_DATABASE_URL set, drop it."""
    admin_url = os.environ.get("POSTGRES_ADMIN_URL", DEFAULT_ADMIN_URL)
    required = os.environ.get("REQUIRE_POSTGRES") == "1"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        print(f"PostgreSQL run skipped: cannot connect to {_safe(admin_url)}: {reason}")
        return 1 if required else 0
    name = f"flask_api_tutorial_test_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            info = admin.info
            url = (
                f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
                if not info.password
                else f"postgresql+psycopg://{info.user}:{info.password}@{info.host}:{info.port}/{name}"
            )
            print(f"PostgreSQL run on database {name} ({info.host}:{info.port})", flush=True)
            env = {**os.environ, "TEST_DATABASE_URL": url}
            return subprocess.call(command, env=env)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _safe(url):
    """Hide a password in ``url`` before printing it."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{credentials.split(':')[0]}{at}{host}" if at else url


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["pytest"]))
