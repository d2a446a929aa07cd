"""What one token check costs in-process: through SQLAlchemy's execution layer or not.

The token check (alone, and with the widget list's page read along) is run on one
app, first with ``Connection.execute`` as SQLAlchemy runs any statement, then with
``database.read_rows`` as the API runs it, next to a bare DBAPI round trip
(``SELECT 1``). Prints the best and the median of the rounds, in microseconds.

    .venv/bin/python bench/statement_cost.py     # SQLite, a temporary file
    DATABASE_URL=postgresql+psycopg://… .venv/bin/python bench/statement_cost.py

``DATABASE_URL`` must name an empty database of its own: the tables are created,
filled with one user and 100 widgets, and dropped.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def measure(call, calls, rounds):
    """Return (best, median) microseconds per call over ``rounds`` runs of ``calls``."""
    for _ in range(calls // 10):
        call()
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        per_call.append((time.perf_counter() - start) / calls * 1e6)
    return min(per_call), statistics.median(per_call)


def main():
    """Fill a database, time each way of reading, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from flask_api_tutorial import create_app, db
    from flask_api_tutorial.database import autocommit_engine, dispose_engines, read_rows
    from flask_api_tutorial.models import User, Widget, WidgetCount
    from flask_api_tutorial.models.user import _joined, _user_and_revocation

    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(folder) / 'cost.db'}"
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            db.drop_all()
            db.create_all()
            user = User(email="cost@example.com", password="correct-horse-battery")
            db.session.add(user)
            db.session.flush()
            now = datetime.now(timezone.utc).replace(microsecond=0)
            db.session.add_all(
                Widget(
                    name=f"widget-{number}",
                    info_url=f"https://example.com/widget-{number}",
                    created_at=now - timedelta(seconds=number),
                    deadline=now + timedelta(days=30),
                    owner_id=user.id,
                )
                for number in range(100)
            )
            WidgetCount.add(100)
            db.session.commit()
            claims = {"sub": user.public_id, "jti": "never-revoked", "ver": 0}
            along = Widget.page_read(1, 10)
            alone = (_user_and_revocation(), {"sub": claims["sub"], "jti": claims["jti"]})
            joined = (_joined(along.select, along.order_by), {**along.params, **alone[1]})
            engine = autocommit_engine()

            def through_sqlalchemy(statement, params):
                def call():
                    with engine.connect() as connection:
                        connection.execute(statement, params).all()

                return call

            def round_trip():
                connection = engine.raw_connection()
                try:
                    cursor = connection.cursor()
                    cursor.execute("SELECT 1")
                    cursor.fetchall()
                    cursor.close()
                finally:
                    connection.close()

            cases = [
                ("DBAPI round trip, SELECT 1", round_trip),
                ("token check, Connection.execute", through_sqlalchemy(*alone)),
                ("token check, read_rows", lambda: read_rows(*alone)),
                ("token check + page, Connection.execute", through_sqlalchemy(*joined)),
                ("token check + page, read_rows", lambda: read_rows(*joined)),
            ]
            print(f"{engine.dialect.name}: µs per call, best / median of {args.rounds} rounds")
            for name, call in cases:
                best, median = measure(call, args.calls, args.rounds)
                print(f"  {name:42s} {best:7.1f} / {median:7.1f}")
            db.session.remove()
            db.drop_all()
            dispose_engines()


if __name__ == "__main__":
    main()
