"""Request parsers and response models of the account namespace: data shapes only.

Addresses and new passwords follow registration's rules (api/auth/dto.py).
"""

from flask_restx import Model
from flask_restx.fields import Boolean, DateTime, List, Nested, String

from flask_api_tutorial.api.auth.dto import email, new_password
from flask_api_tutorial.api.dto import BodyParser
from flask_api_tutorial.models.account_token import TOKEN_MAX_LENGTH


def mailed_token(value):
    """Return ``value`` trimmed if it can be a mailed token (printable ASCII); else ValueError.

    Whether it is one is for the business to find out: every token that is not
    answers the same 400.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("token must be a non-empty string")
    value = value.strip()
    if len(value) > TOKEN_MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise ValueError(f"token must be at most {TOKEN_MAX_LENGTH} printable ASCII characters")
    return value


mailed_token.__schema__ = {"type": "string", "maxLength": TOKEN_MAX_LENGTH}

password_reset_reqparser = BodyParser(bundle_errors=True)
password_reset_reqparser.add_argument(
    name="email", type=email, location="form", required=True, nullable=False
)

reset_confirm_reqparser = BodyParser(bundle_errors=True)
reset_confirm_reqparser.add_argument(
    name="token", type=mailed_token, location="form", required=True, nullable=False
)
reset_confirm_reqparser.add_argument(
    name="password", type=new_password, location="form", required=True, nullable=False
)

verify_email_reqparser = BodyParser(bundle_errors=True)
verify_email_reqparser.add_argument(
    name="token", type=mailed_token, location="form", required=True, nullable=False
)

# Without a Bearer token, the address is required (the business says so).
resend_reqparser = BodyParser(bundle_errors=True)
resend_reqparser.add_argument(
    name="email", type=email, location="form", required=False, nullable=False
)

session_model = Model(
    "Session",
    {
        "id": String(description="the login's opaque id, for DELETE /auth/sessions/{id}"),
        "created_at": DateTime(dt_format="iso8601", description="when the user logged in"),
        "last_used_at": DateTime(
            dt_format="iso8601", description="the last login or refresh of this session"
        ),
        "user_agent": String(description="the User-Agent of the login", example="curl/8.5.0"),
        "ip_address": String(description="the client address of the login", example="127.0.0.1"),
        "current": Boolean(description="true for the session of the token that asks"),
    },
)

session_list_model = Model("SessionList", {"sessions": List(Nested(session_model))})
