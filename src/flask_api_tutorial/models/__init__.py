"""Database models."""

from flask_api_tutorial.models.refresh_token import RefreshToken
from flask_api_tutorial.models.token_blacklist import BlacklistedToken
from flask_api_tutorial.models.user import User
from flask_api_tutorial.models.widget import Widget

__all__ = ["BlacklistedToken", "RefreshToken", "User", "Widget"]
