"""Flask API with JWT-based authentication: the application factory and its extensions."""

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_bcrypt import Bcrypt
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

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


class JSONProvider(DefaultJSONProvider):
    """JSON bodies in one style, as Flask-RESTx writes them: `{"a": 1, "b": 2}`.

    Fields keep the order the contract lists them in. Flask's jsonify asks for
    compact separators, or in debug mode an indent of 2; Flask-RESTx writes the
    default separators, and indents by 4 in debug mode.
    """

    sort_keys = False

    def dumps(self, obj, **kwargs):
        """Serialize ``obj`` with the default separators (and, when indented, by four)."""
        kwargs.pop("separators", None)
        if kwargs.get("indent"):
            kwargs["indent"] = 4
        return super().dumps(obj, **kwargs)


def create_app(config_name=None, test_config=None):
    """Create the app for ``config_name`` (default: $FLASK_CONFIG, else development).

    ``test_config`` overrides settings after the environment has been read; the test
    suite uses it to choose its database.
    """
    from flask_api_tutorial import (  # noqa: F401
        api,
        audit,
        cli,
        config,
        database,
        hardening,
        mail,
        metrics,
        models,
    )
    from flask_api_tutorial.api import ratelimits

    app = Flask("flask_api_tutorial")
    app.json = JSONProvider(app)
    config.init_app(app, config_name, test_config)
    database.init_app(app)
    bcrypt.init_app(app)
    # First: its timer starts before, and its count runs after, every other hook.
    metrics.init_app(app)
    hardening.init_app(app)
    api.init_app(app)
    audit.init_app(app)
    ratelimits.init_app(app)
    mail.init_app(app)
    cli.init_app(app)
    return app
