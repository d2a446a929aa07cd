"""Median time of failed logins by cause: they must not tell an attacker which failed."""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from flask_api_tutorial import create_app, db
from flask_api_tutorial.models import User

EMAIL = "timing@example.com"
PASSWORD = "correct-horse-battery"
CASES = {
    "unknown email": {"email": "nobody@example.com", "password": PASSWORD},
    "wrong password": {"email": EMAIL, "password": "wrong-password"},
    "over-long password": {"email": EMAIL, "password": "x" * 100},
    "right password": {"email": EMAIL, "password": PASSWORD},
}


def main():
    """Time each kind of login ``--tries`` times, interleaved, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--tries", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'timing.db'}"
        app = create_app(
            "testing", {"SQLALCHEMY_DATABASE_URI": url, "BCRYPT_LOG_ROUNDS": args.rounds}
        )
        with app.app_context():
            db.create_all()
            db.session.add(User(email=EMAIL, password=PASSWORD))
            db.session.commit()
        client = app.test_client()
        client.post("/api/v1/auth/login", json=CASES["unknown email"])  # warm-up
        times = {name: [] for name in CASES}
        for _ in range(args.tries):
            for name, body in CASES.items():
                start = time.perf_counter()
                status = client.post("/api/v1/auth/login", json=body).status_code
                times[name].append(time.perf_counter() - start)
                assert status == (200 if name == "right password" else 401), (name, status)

    print(f"bcrypt rounds {args.rounds}, {args.tries} tries each, interleaved")
    print(f"{'case':<20} {'median ms':>10} {'stdev ms':>9}")
    for name, values in times.items():
        print(
            f"{name:<20} {statistics.median(values) * 1000:>10.1f} "
            f"{statistics.stdev(values) * 1000:>9.1f}"
        )


if __name__ == "__main__":
    main()
