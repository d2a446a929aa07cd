"""Flask commands: add-user, purge-tokens, keys, and what `flask shell` starts with."""

import os
from datetime import datetime, timedelta, timezone

import click
from flask import current_app
from sqlalchemy.exc import IntegrityError

from flask_api_tutorial import db, mail
from flask_api_tutorial.api.auth.dto import email as email_type
from flask_api_tutorial.api.auth.dto import new_password
from flask_api_tutorial.config import ConfigError, check_environment
from flask_api_tutorial.models import (
    AccountToken,
    BlacklistedToken,
    MailMessage,
    RefreshToken,
    User,
    UserSession,
    Widget,
)
from flask_api_tutorial.models import mail_message as outbox
from flask_api_tutorial.util import key_util
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
    """Delete rows that no longer decide anything; print how many.

    Revoked and refresh tokens that have expired anyway, mailed tokens past their
    expiry, outbox messages done for MAIL_OUTBOX_KEEP_DAYS, and logins whose every
    token has expired. One DELETE statement per table: safe to run from cron while
    the API serves, since an expired token is refused before its revocation (or its
    login) is even looked up.
    """
    config = current_app.config
    now = utc_now()
    # Access tokens live on after their login ends: its row stays while they can.
    session_gone = now - max(config["ACCESS_TOKEN_LIFETIME"], config["REFRESH_TOKEN_LIFETIME"])
    statements = {
        "expired revoked token(s)": db.delete(BlacklistedToken).where(
            BlacklistedToken.expires_at < now
        ),
        "expired refresh token(s)": db.delete(RefreshToken).where(RefreshToken.expires_at < now),
        "expired mailed token(s)": db.delete(AccountToken).where(AccountToken.expires_at < now),
        "old outbox message(s)": db.delete(MailMessage).where(
            MailMessage.status.in_(outbox.DONE),
            MailMessage.created_at < now - timedelta(days=config["MAIL_OUTBOX_KEEP_DAYS"]),
        ),
        "ended session(s)": db.delete(UserSession).where(
            db.or_(
                UserSession.ended_at < now - config["ACCESS_TOKEN_LIFETIME"],
                UserSession.last_used_at < session_gone,
            )
        ),
    }
    counts = {name: db.session.execute(query).rowcount for name, query in statements.items()}
    db.session.commit()
    click.echo("Deleted " + ", ".join(f"{count} {name}" for name, count in counts.items()) + ".")


@click.command("send-mail")
def send_mail():
    """Send every outbox message that is due, once, and print what became of them.

    For cron, or by hand: safe beside the API's own senders (each message is
    claimed by one sender).
    """
    outcomes = mail.deliver_due()
    click.echo(
        "Mail: "
        + (", ".join(f"{count} {outcome}" for outcome, count in outcomes.items()) or "nothing due")
        + "."
    )


@click.group("keys")
def keys_cli():
    """Token signing keys: generate a private key, list the configured keys."""


@keys_cli.command("generate")
@click.option(
    "--algorithm",
    type=click.Choice(key_util.ASYMMETRIC_ALGORITHMS),
    required=True,
    help="EdDSA (Ed25519) or RS256 (RSA).",
)
@click.option("--out", "path", type=click.Path(dir_okay=False), required=True, help="PEM file.")
@click.option(
    "--bits",
    type=click.IntRange(min=key_util.RSA_MIN_BITS),
    default=key_util.RSA_DEFAULT_BITS,
    show_default=True,
    help="RSA key size.",
)
def generate_key(algorithm, path, bits):
    """Write a new private key to --out (mode 0600, never over a file) and print its kid.

    Needs no configuration: it works while JWT_PRIVATE_KEY_FILE names the file it
    is about to create (the command is a Flask plugin, run without loading the app).
    """
    pem, kid = key_util.generate_private_key(algorithm, bits)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; refusing to overwrite it") from None
    except OSError as error:
        raise click.ClickException(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)  # whatever the umask
        file.write(pem)
    click.echo(f"Wrote a new {algorithm} private key to {path}; its kid:", err=True)
    click.echo(kid)


@keys_cli.command("list")
def list_keys():
    """Print the kid, algorithm and role of every configured key; never a secret."""
    try:
        _, config = check_environment()
    except ConfigError as error:
        raise click.ClickException(f"Configuration error: {error}") from None
    for kind, keys, scope in (
        ("access", config["ACCESS_TOKEN_KEYS"], config["ACCESS_TOKEN_SCOPE"]),
        ("refresh", config["REFRESH_TOKEN_KEYS"], config["REFRESH_TOKEN_SCOPE"]),
    ):
        for key in keys:
            click.echo(f"{kind:<8} {key.role:<9} {key.algorithm:<6} {key.kid}  ({key.source})")
        if keys.legacy:
            click.echo(f"{kind:<8} tokens without kid: HS256 with {len(keys.legacy)} secret(s)")
        click.echo(f"{kind:<8} issuer   {scope.issuer}")
        click.echo(f"{kind:<8} audience {', '.join(scope.audience)}")
        if scope.unscoped_before is not None:
            before = datetime.fromtimestamp(scope.unscoped_before, timezone.utc).isoformat()
            missing = "iss, aud or sid" if kind == "access" else "iss and aud"
            click.echo(f"{kind:<8} tokens without {missing}: accepted if issued before {before}")


def _shell_context():
    return {
        "db": db,
        "User": User,
        "BlacklistedToken": BlacklistedToken,
        "RefreshToken": RefreshToken,
        "UserSession": UserSession,
        "AccountToken": AccountToken,
        "MailMessage": MailMessage,
        "Widget": Widget,
    }


def init_app(app):
    """Attach the commands and the shell context to ``app``."""
    app.cli.add_command(add_user)
    app.cli.add_command(purge_tokens)
    app.cli.add_command(send_mail)
    app.cli.add_command(keys_cli)
    app.shell_context_processor(_shell_context)
