"""Concurrent requests: the database's unique constraints decide, never a 5xx."""

import pytest
from flask import url_for

from tests.support.races import assert_one_logout, assert_one_registration, release_together
from tests.util import EMAIL, PASSWORD, bearer, login_user

pytestmark = [pytest.mark.database]

THREADS = 8


def _at_once(app, send):
    """Run ``send(client)`` in THREADS threads released together, each with its own client."""
    return release_together([lambda: send(app.test_client())] * THREADS)


def test_same_email_registered_at_once(app, db):
    path = url_for("api.auth_register")  # here: the threads have no request context
    responses = _at_once(app, lambda c: c.post(path, json={"email": EMAIL, "password": PASSWORD}))
    assert_one_registration(responses, EMAIL, db)


def test_same_token_logged_out_at_once(app, client, db, user):
    token = login_user(client).get_json()["access_token"]
    path = url_for("api.auth_logout")
    responses = _at_once(app, lambda c: c.post(path, headers=bearer(token)))
    assert_one_logout(responses, db)
