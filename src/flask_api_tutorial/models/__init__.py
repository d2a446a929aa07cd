"""Database models."""

from flask_api_tutorial.models.account_token import AccountToken
from flask_api_tutorial.models.mail_message import MailMessage
from flask_api_tutorial.models.refresh_token import RefreshToken
from flask_api_tutorial.models.token_blacklist import BlacklistedToken
from flask_api_tutorial.models.user import User
from flask_api_tutorial.models.user_session import UserSession
from flask_api_tutorial.models.widget import Widget

__all__ = [
    "AccountToken",
    "BlacklistedToken",
    "MailMessage",
    "RefreshToken",
    "User",
    "UserSession",
    "Widget",
]
