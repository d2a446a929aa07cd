"""The API's paths, for the tests that talk HTTP to a served instance (gunicorn).

A request to a server's URL has no app context to build a path with url_for, as the
tests on Flask's test client do; these modules take their paths from here instead.
"""

API = "/api/v1"
AUTH_REGISTER = f"{API}/auth/register"
AUTH_LOGIN = f"{API}/auth/login"
AUTH_USER = f"{API}/auth/user"
AUTH_LOGOUT = f"{API}/auth/logout"
AUTH_REFRESH = f"{API}/auth/refresh"
AUTH_LOGOUT_ALL = f"{API}/auth/logout-all"
AUTH_PASSWORD = f"{API}/auth/password"
AUTH_PASSWORD_RESET = f"{API}/auth/password-reset"
AUTH_PASSWORD_RESET_CONFIRM = f"{API}/auth/password-reset/confirm"
AUTH_VERIFY_EMAIL = f"{API}/auth/verify-email"
AUTH_VERIFY_EMAIL_RESEND = f"{API}/auth/verify-email/resend"
AUTH_SESSIONS = f"{API}/auth/sessions"
HEALTH = f"{API}/health"
DOC = f"{API}/ui"
SPECS = f"{API}/swagger.json"
