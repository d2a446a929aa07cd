"""Races played by threads released together, and the outcomes every race test asserts.

The same assertions serve the in-process races (Flask's test client) and the served
ones (``requests`` against gunicorn): both responses have ``status_code`` and ``text``,
and body() reads the JSON of either.
"""

import threading
import time
from collections import Counter

from flask_api_tutorial.models import BlacklistedToken, User
from tests.util import REFRESH_INVALID, REFRESH_REUSED, TOKEN_BLACKLISTED

# A refresh that lost a race: its token was used up, or its family revoked.
REFRESH_REFUSED = {REFRESH_INVALID, REFRESH_REUSED}


def release_together(sends, timeout=120):
    """Call each of ``sends`` in its own thread, all released at once; return the results.

    The threads start without the test's Flask contexts: build paths (url_for) before.
    An exception raised by a call is raised again here.
    """
    barrier = threading.Barrier(len(sends))
    outcomes = [None] * len(sends)

    def run(index, send):
        barrier.wait()
        try:
            outcomes[index] = (send(), None)
        except Exception as error:  # handed to the test's thread below
            outcomes[index] = (None, error)

    threads = [
        threading.Thread(target=run, args=(index, send), daemon=True)
        for index, send in enumerate(sends)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"a call ran past {timeout} s"
    results = []
    for result, error in outcomes:
        if error is not None:
            raise error
        results.append(result)
    return results


def body(response):
    """Return the JSON body of a Flask test response or of a ``requests`` response."""
    get_json = getattr(response, "get_json", None)
    return get_json() if callable(get_json) else response.json()


def assert_one_wins(responses, winner, loser):
    """Exactly one response has the ``winner`` status; every other one has ``loser``."""
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {winner: 1, loser: len(responses) - 1}, [r.text for r in responses]


def assert_one_registration(responses, email, db):
    """One email registered at once: one 201, the rest 409 naming it; one row stored."""
    assert_one_wins(responses, 201, 409)
    for response in responses:
        if response.status_code == 409:
            assert body(response) == {
                "status": "fail",
                "message": f"{email} is already registered",
            }
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def assert_one_logout(responses, db=None):
    """One token logged out at once: one 200, the rest 401 Token blacklisted.

    With ``db``, also that exactly one revocation is stored.
    """
    assert_one_wins(responses, 200, 401)
    for response in responses:
        if response.status_code == 401:
            assert body(response) == {"message": TOKEN_BLACKLISTED}
    if db is not None:
        assert db.session.scalar(db.select(db.func.count(BlacklistedToken.id))) == 1


def assert_refresh_refused(response):
    """Check a refresh that lost: 401, its token used up or its family revoked."""
    assert response.status_code == 401
    assert body(response)["message"] in REFRESH_REFUSED
