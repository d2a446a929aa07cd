"""Alembic environment: runs migrations against the Flask app's database."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from flask_api_tutorial.util.datetime_util import UtcDateTime

config = context.config
# Keep the app's own loggers alive when migrations run inside a process (tests).
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
engine = target_db.engine
config.set_main_option(
    "sqlalchemy.url",
    engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def render_item(type_, obj, autogen_context):
    """Write UtcDateTime as a plain DateTime, so migrations never import the app."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def process_revision_directives(context_, revision, directives):
    """Write no empty revision when autogenerate finds nothing to change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def configure_args():
    """Return the options shared by offline and online runs."""
    args = {
        "target_metadata": target_db.metadata,
        "compare_type": True,
        "render_as_batch": True,
        "render_item": render_item,
    }
    args.update(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", process_revision_directives)
    return args


def run_migrations_offline():
    """Emit the SQL of the migrations instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **configure_args()
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on a connection of the app's engine."""
    with engine.connect() as connection:
        context.configure(connection=connection, **configure_args())
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
