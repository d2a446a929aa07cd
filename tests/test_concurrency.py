"""Concurrent requests: the database's unique constraints decide, never a 5xx."""

import threading
from collections import Counter

from flask_api_tutorial.models import BlacklistedToken, User
from tests.util import EMAIL, PASSWORD, TOKEN_BLACKLISTED, bearer, login_user

THREADS = 8


def _at_once(app, send):
    """Run ``send(client)`` in THREADS threads released together; return the responses."""
    barrier = threading.Barrier(THREADS)
    responses = [None] * THREADS

    def worker(index):
        client = app.test_client()
        barrier.wait()
        responses[index] = send(client)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def test_same_email_registered_at_once(app, db):
    responses = _at_once(
        app,
        lambda c: c.post("/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}),
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: THREADS - 1}
    for response in responses:
        if response.status_code == 409:
            assert response.get_json() == {
                "status": "fail",
                "message": f"{EMAIL} is already registered",
            }
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_same_token_logged_out_at_once(app, client, db, user):
    token = login_user(client).get_json()["access_token"]
    responses = _at_once(app, lambda c: c.post("/api/v1/auth/logout", headers=bearer(token)))
    assert Counter(r.status_code for r in responses) == {200: 1, 401: THREADS - 1}
    for response in responses:
        if response.status_code == 401:
            assert response.get_json() == {"message": TOKEN_BLACKLISTED}
    assert db.session.scalar(db.select(db.func.count(BlacklistedToken.id))) == 1
