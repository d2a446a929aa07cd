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

    Fields keep the order the contract lists them in; in debug mode, indented by
    four spaces, as Flask-RESTx indents its own.
    """

    sort_keys = False

    def response(self, *args, **kwargs):
        """Serialize like Flask's jsonify, with spaces after `,` and `:`."""
        obj = self._prepare_response_obj(args, kwargs)
        indent = 4 if self._app.debug else None
        return self._app.response_class(
            f"{self.dumps(obj, indent=indent)}\n", mimetype=self.mimetype
        )


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
    # Last: its after_request hooks then run first, so a 503 that replaces a
    # response there still gets the request id, the CORS and security headers.
    ratelimits.init_app(app)
    cli.init_app(app)
    return app
