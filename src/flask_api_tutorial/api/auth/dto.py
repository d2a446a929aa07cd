"""Request parsers and response models of the auth namespace: data shapes only.

Bodies are read as form data or as a JSON object alike (api/dto.py's BodyParser).
"""

from email_validator import EmailNotValidError, validate_email
from flask_restx import Model
from flask_restx.fields import Boolean, DateTime, Integer, String

from flask_api_tutorial.api.dto import BodyParser
from flask_api_tutorial.models.user import BCRYPT_MAX_BYTES

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = BCRYPT_MAX_BYTES
PASSWORD_RULE = (
    f"password must be at least {PASSWORD_MIN_CHARS} characters "
    f"and at most {PASSWORD_MAX_BYTES} bytes in UTF-8, without NUL characters"
)


def email(value):
    """Return the email normalised (Unicode NFC, IDNA domain), trimmed and lower-cased.

    Look-alike spellings (NFC and NFD, full-width letters in the domain) become one
    address, so they are one account and one rate-limit key. Raise ValueError.
    """
    if not isinstance(value, str):
        raise ValueError("email must be a string")
    try:
        normalized = validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(f"{value} is not a valid email") from None
    return normalized.lower()


def new_password(value):
    """Return ``value`` if it meets the password rule (bcrypt's 72-byte limit included)."""
    if not isinstance(value, str):
        raise ValueError("password must be a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("password must be valid Unicode text") from None
    # bcrypt stops at NUL: "\0" * 9 would be the same password as "\0" * 72.
    if len(value) < PASSWORD_MIN_CHARS or size > PASSWORD_MAX_BYTES or "\x00" in value:
        raise ValueError(PASSWORD_RULE)
    return value


def password(value):
    """Return ``value`` if it is a string; its length is for the login check to judge."""
    if not isinstance(value, str):
        raise ValueError("password must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("password must be valid Unicode text") from None
    return value


email.__schema__ = {"type": "string", "format": "email"}
new_password.__schema__ = {
    "type": "string",
    "format": "password",
    "minLength": PASSWORD_MIN_CHARS,
}
password.__schema__ = {"type": "string", "format": "password"}

auth_reqparser = BodyParser(bundle_errors=True)
auth_reqparser.add_argument(
    name="email", type=email, location="form", required=True, nullable=False
)
auth_reqparser.add_argument(
    name="password",
    type=new_password,
    location="form",
    required=True,
    nullable=False,
)

login_reqparser = auth_reqparser.copy()
login_reqparser.replace_argument(
    name="password", type=password, location="form", required=True, nullable=False
)


def token_string(value):
    """Return ``value`` if it is a non-empty string of a plausible token length."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("refresh_token must be a non-empty string")
    if len(value) > 4096:
        raise ValueError("refresh_token is too long to be a token")
    if not value.isascii():
        raise ValueError("refresh_token must be ASCII, as every JWT is")
    return value.strip()


token_string.__schema__ = {"type": "string", "maxLength": 4096}

refresh_reqparser = BodyParser(bundle_errors=True)
refresh_reqparser.add_argument(
    name="refresh_token", type=token_string, location="form", required=True, nullable=False
)

logout_reqparser = BodyParser(bundle_errors=True)
logout_reqparser.add_argument(
    name="refresh_token", type=token_string, location="form", required=False, nullable=False
)

password_reqparser = BodyParser(bundle_errors=True)
password_reqparser.add_argument(
    name="current_password", type=password, location="form", required=True, nullable=False
)
password_reqparser.add_argument(
    name="new_password", type=new_password, location="form", required=True, nullable=False
)

token_model = Model(
    "Token",
    {
        "status": String(example="success"),
        "message": String(example="successfully logged in"),
        "access_token": String(description="HS256 JWT; send it as 'Bearer <token>'"),
        "token_type": String(example="bearer"),
        "expires_in": Integer(description="seconds until the token expires"),
        "refresh_token": String(description="JWT for POST /auth/refresh; used up by one refresh"),
        "refresh_expires_in": Integer(description="seconds until the refresh token expires"),
    },
)

user_model = Model(
    "User",
    {
        "email": String(example="user@example.com"),
        "public_id": String(description="the user's permanent id (the token's sub)"),
        "admin": Boolean(default=False),
        "registered_on": DateTime(dt_format="iso8601"),
        "token_expires_in": String(
            description="time left on this token, HH:MM:SS", example="00:14:59"
        ),
        "email_verified": Boolean(
            default=False, description="whether the address was verified (by mail)"
        ),
    },
)
