"""Flask commands: add-user, purge-tokens, and what `flask shell` starts with."""

import click
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db
from flask_api_tutorial.api.auth.dto import email as email_type
from flask_api_tutorial.api.auth.dto import new_password
from flask_api_tutorial.models import BlacklistedToken, RefreshToken, User, Widget
from flask_api_tutorial.util.datetime_util import utc_now


@click.command("add-user")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the user administrator rights.")
@click.password_option(
    "--password",
    prompt="Password",
    confirmation_prompt=True,
    help="Prompted for (twice, without echo) when not given.",
)
def add_user(email, admin, password):
    """Register EMAIL, asking for the password twice without echoing it."""
    try:
        email = email_type(email)
        password = new_password(password)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    db.session.add(User(email=email, password=password, admin=admin))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(f"{email} is already registered") from None
    role = "admin user" if admin else "user"
    click.echo(f"Successfully added new {role}: {email}")


@click.command("purge-tokens")
def purge_tokens():
    """Delete rows of revoked and refresh tokens that have expired anyway; print how many.

    One DELETE statement per table: safe to run from cron while the API serves,
    since an expired token is refused before its revocation is even looked up.
    """
    now = utc_now()
    revoked = db.session.execute(
        db.delete(BlacklistedToken).where(BlacklistedToken.expires_at < now)
    )
    refresh = db.session.execute(db.delete(RefreshToken).where(RefreshToken.expires_at < now))
    db.session.commit()
    click.echo(
        f"Deleted {revoked.rowcount} expired revoked token(s) "
        f"and {refresh.rowcount} expired refresh token(s)."
    )


def _shell_context():
    return {
        "db": db,
        "User": User,
        "BlacklistedToken": BlacklistedToken,
        "RefreshToken": RefreshToken,
        "Widget": Widget,
    }


def init_app(app):
    """Attach the commands and the shell context to ``app``."""
    app.cli.add_command(add_user)
    app.cli.add_command(purge_tokens)
    app.shell_context_processor(_shell_context)
