"""Flask API with JWT-based authentication: the application factory and its extensions."""

import os
from pathlib import Path

from flask import Flask
from flask.sessions import SessionInterface
from flask_bcrypt import Bcrypt
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from flask_api_tutorial.config import (
    DEFAULT_CONFIG,
    engine_options,
    get_config,
    settings_from_environ,
    validate,
)

# Named constraints, so that migrations can drop them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Objects stay readable after commit without a reload query (sessions last one request).
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    session_options={"expire_on_commit": False},
)
migrate = Migrate()
bcrypt = Bcrypt()
# Flask-Limiter keeps its storage on the extension object: one app per process,
# as under gunicorn. Each create_app() re-initialises it for the newest app.
limiter = Limiter(key_func=get_remote_address)

SQLITE_FILENAME = "flask_api_tutorial.db"


class NoCookieSessions(SessionInterface):
    """Never open or save a cookie session: `flask.session` stays a null session."""

    def open_session(self, app, request):
        """Return None, so that Flask uses its null session."""
        return None

    def save_session(self, app, session, response):
        """Set no cookie."""


def create_app(config_name=None, test_config=None):
    """Create the app for ``config_name`` (default: $FLASK_CONFIG, else development).

    ``test_config`` overrides settings after the environment has been read; the test
    suite uses it to choose its database.
    """
    config_name = config_name or os.environ.get("FLASK_CONFIG") or DEFAULT_CONFIG
    config_class = get_config(config_name)

    app = Flask("flask_api_tutorial")
    app.json.sort_keys = False  # bodies read in the order the contract lists fields
    # A stateless token API: no cookie sessions to open and sign on every request.
    app.session_interface = NoCookieSessions()
    app.config.from_object(config_class)
    app.config.update(settings_from_environ(config_name))
    app.config.update(test_config or {})
    app.config["CONFIG_NAME"] = config_name
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        db_file = Path(app.instance_path) / SQLITE_FILENAME
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config))
    validate(config_name, app.config)

    from flask_api_tutorial import models, security  # noqa: F401  (models: the tables)
    from flask_api_tutorial.api import api, api_bp, ratelimits
    from flask_api_tutorial.api.errors import register_error_handlers
    from flask_api_tutorial.audit import configure_audit_logger
    from flask_api_tutorial.cli import register_cli
    from flask_api_tutorial.util.pool_util import configure_pool
    from flask_api_tutorial.util.sqlite_util import configure_sqlite

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        else:
            configure_pool(db.engine, app.config)
    # Flask-Migrate's convention, and the tutorial's: ./migrations of the working
    # directory (the checkout), so that a non-editable install finds them too.
    migrate.init_app(app, db)
    bcrypt.init_app(app)
    security.init_app(app)
    # After security: its after_request hooks then run after the limiter's, so a
    # 503 that replaces a response there still gets CORS and security headers.
    ratelimits.init_app(app)
    configure_audit_logger()
    app.register_blueprint(api_bp)
    register_error_handlers(app, api)
    register_cli(app)
    return app
