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
HEALTH = f"{API}/health"
DOC = f"{API}/ui"
SPECS = f"{API}/swagger.json"
