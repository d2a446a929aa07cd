"""GET /api/v1/health: 200 when the database answers, 503 when it does not."""

from http import HTTPStatus

from flask_restx import Model, Namespace, Resource
from flask_restx.fields import String

from flask_api_tutorial import db

health_ns = Namespace(name="health", description="Liveness and database reachability")

health_model = health_ns.add_model(
    "Health", Model("Health", {"status": String(example="ok"), "database": String(example="ok")})
)
health_error_model = health_ns.add_model(
    "HealthError",
    Model(
        "HealthError",
        {"message": String(example="Service unavailable: the database cannot be reached.")},
    ),
)


@health_ns.route("", endpoint="health")
class Health(Resource):
    """Handles HTTP requests to URL: /api/v1/health."""

    @health_ns.doc(
        responses={
            int(HTTPStatus.OK): ("The database answers.", health_model),
            int(HTTPStatus.SERVICE_UNAVAILABLE): ("Database unreachable.", health_error_model),
        }
    )
    def get(self):
        """Report whether this instance can reach its database."""
        # An OperationalError here becomes the shared 503 answer (api/errors.py).
        db.session.execute(db.text("SELECT 1"))
        return {"status": "ok", "database": "ok"}, HTTPStatus.OK
