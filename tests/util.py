"""Request helpers and the contract's fixed values."""

from flask import url_for

from flask_api_tutorial import db
from flask_api_tutorial.models import User, UserSession

EMAIL = "new_user@email.com"
ADMIN_EMAIL = "admin_user@email.com"
PASSWORD = "test1234"
BAD_REQUEST = "Input payload validation failed"
REALM = 'Bearer realm="registered_users@mydomain.com"'
UNAUTHORIZED = {"message": "Unauthorized"}
TOKEN_EXPIRED = "Access token expired. Please log in again."
TOKEN_BLACKLISTED = "Token blacklisted. Please log in again."
TOKEN_INVALID = "Invalid token. Please log in again."
REFRESH_INVALID = "Invalid refresh token. Please log in again."
REFRESH_EXPIRED = "Refresh token expired. Please log in again."
REFRESH_REUSED = "Refresh token already used. Please log in again."
LOGIN_FAILED = {"status": "fail", "message": "email or password does not match"}
# The testing configuration's PUBLIC_BASE_URL names the issuer and the audiences.
ISSUER = "http://localhost"
AUDIENCE = "http://localhost/api/v1"
REFRESH_AUDIENCE = "http://localhost/api/v1/auth/refresh"


def add_user(email=EMAIL, password=PASSWORD, admin=False):
    """Add a user to the database of the current app context, commit, and return it."""
    user = User(email=email, password=password, admin=admin)
    db.session.add(user)
    db.session.commit()
    return user


def live_session_id(user):
    """Start a login of ``user`` (committed) and return its id: a hand-built token's sid."""
    session = UserSession.start(user)
    db.session.commit()
    return session.id


def path_for(app, endpoint, **values):
    """Return url_for(endpoint) for an app that has no request context pushed.

    pytest-flask pushes one for the ``app`` fixture only; tests that build their own
    app (another configuration) ask it through this.
    """
    with app.test_request_context():
        return url_for(endpoint, **values)


def challenge(message):
    """Return the WWW-Authenticate value for a refused token."""
    return f'{REALM}, error="invalid_token", error_description="{message}"'


def _as(data, as_json):
    """Return the test client's keyword argument that sends ``data`` as JSON or a form."""
    return {"json": data} if as_json else {"data": data}


def _body(email, password, as_json):
    return _as({"email": email, "password": password}, as_json)


def register_user(client, email=EMAIL, password=PASSWORD, as_json=False):
    """POST /auth/register as a form (default) or as JSON."""
    return client.post(url_for("api.auth_register"), **_body(email, password, as_json))


def login_user(client, email=EMAIL, password=PASSWORD, as_json=False):
    """POST /auth/login as a form (default) or as JSON."""
    return client.post(url_for("api.auth_login"), **_body(email, password, as_json))


def bearer(access_token):
    """Return the Authorization header for ``access_token``."""
    return {"Authorization": f"Bearer {access_token}"}


def get_user(client, access_token):
    """GET /auth/user with a bearer token."""
    return client.get(url_for("api.auth_user"), headers=bearer(access_token))


def logout_user(client, access_token, refresh_token=None, as_json=True):
    """POST /auth/logout with a bearer token, and a refresh token to revoke if given."""
    body = {} if refresh_token is None else _as({"refresh_token": refresh_token}, as_json)
    return client.post(url_for("api.auth_logout"), headers=bearer(access_token), **body)


def refresh_tokens(client, refresh_token, as_json=True):
    """POST /auth/refresh: trade ``refresh_token`` for a new pair (JSON or a form)."""
    return client.post(
        url_for("api.auth_refresh"), **_as({"refresh_token": refresh_token}, as_json)
    )


def logout_all(client, access_token):
    """POST /auth/logout-all with a bearer token."""
    return client.post(url_for("api.auth_logout_all"), headers=bearer(access_token))


def change_password(client, access_token, current, new):
    """PUT /auth/password with a bearer token."""
    return client.put(
        url_for("api.auth_password"),
        json={"current_password": current, "new_password": new},
        headers=bearer(access_token),
    )


def assert_token_response(response, status, message, expires_in=5):
    """Check a register/login success: status, body, no-store headers."""
    assert response.status_code == status
    body = response.get_json()
    assert body["status"] == "success"
    assert body["message"] == message
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == expires_in
    assert isinstance(body["access_token"], str)
    assert set(body) == {
        "status",
        "message",
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    assert isinstance(body["refresh_token"], str)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.content_type == "application/json"


def assert_unauthorized(response, message=None):
    """Check a 401: without ``message`` the bare challenge, else the invalid_token one."""
    assert response.status_code == 401
    assert response.content_type == "application/json"
    if message is None:
        assert response.get_json() == UNAUTHORIZED
        assert response.headers["WWW-Authenticate"] == REALM
    else:
        assert response.get_json() == {"message": message}
        assert response.headers["WWW-Authenticate"] == challenge(message)


# Accounts that recover: mailed tokens and sessions.
RESET_REQUESTED = {
    "status": "success",
    "message": "If that address is registered, a reset link is on its way.",
}
VERIFICATION_REQUESTED = {
    "status": "success",
    "message": "If that address needs verifying, a link is on its way.",
}
ACCOUNT_TOKEN_INVALID = {"status": "fail", "message": "Invalid or expired token."}
MAIL_DISABLED = {"message": "Mail is not configured on this server."}
SESSION_NOT_FOUND = {"message": "session not found"}
EMAIL_NOT_VERIFIED = {"status": "fail", "message": "email address not verified"}


def request_password_reset(client, email=EMAIL, **kwargs):
    """POST /auth/password-reset."""
    return client.post(url_for("api.auth_password_reset"), json={"email": email}, **kwargs)


def confirm_password_reset(client, token, password, as_json=True):
    """POST /auth/password-reset/confirm (JSON or a form)."""
    return client.post(
        url_for("api.auth_password_reset_confirm"),
        **_as({"token": token, "password": password}, as_json),
    )


def verify_email(client, token):
    """POST /auth/verify-email."""
    return client.post(url_for("api.auth_verify_email"), json={"token": token})


def resend_verification(client, access_token=None, email=None):
    """POST /auth/verify-email/resend with a bearer token, or an email body, or both."""
    headers = bearer(access_token) if access_token else {}
    body = {"json": {"email": email}} if email is not None else {}
    return client.post(url_for("api.auth_verify_email_resend"), headers=headers, **body)


def list_sessions(client, access_token):
    """GET /auth/sessions."""
    return client.get(url_for("api.auth_sessions"), headers=bearer(access_token))


def end_session(client, access_token, session_id):
    """DELETE /auth/sessions/<session_id>."""
    return client.delete(
        url_for("api.auth_session", session_id=session_id), headers=bearer(access_token)
    )
