"""Installation script for flask-api-tutorial."""

from pathlib import Path

from setuptools import find_packages, setup

DESCRIPTION = "Flask REST API with JWT-based authentication, on today's packages."
APP_ROOT = Path(__file__).parent
README = (APP_ROOT / "README.md").read_text(encoding="utf-8")

INSTALL_REQUIRES = [
    "Flask>=3.1",
    "Werkzeug>=3.1",
    "flask-restx>=1.3",
    "Flask-SQLAlchemy>=3.1",
    "SQLAlchemy>=2.0",
    "Flask-Migrate>=4.0",
    "alembic>=1.13",
    "PyJWT[crypto]>=2.10",
    "cryptography>=43",
    "Flask-Bcrypt>=1.0.1",
    "bcrypt>=4.1",
    "email-validator>=2.1",
    "Flask-Limiter[redis]>=3.5",
    "limits>=3.13",
    "flask-cors>=5.0",
    "python-dotenv>=1.0",
    "python-dateutil>=2.8",
    "prometheus-client>=0.20",
]
EXTRAS_REQUIRE = {
    "postgres": ["psycopg[binary]>=3.1"],
    "prod": ["gunicorn>=22", "psycopg[binary]>=3.1"],
    "dev": [
        "pytest>=8",
        "pytest-flask>=1.3",
        "pytest-xdist>=3.5",
        "time-machine>=2.14",
        "ruff>=0.6",
        "tox>=4",
        "httpie>=3.2",
        "requests>=2.31",
        "playwright>=1.40",
        "schemathesis>=4.32,<5",
        "psycopg[binary]>=3.1",
        "gunicorn>=22",
        "aiosmtpd>=1.4",
    ],
}

setup(
    name="flask-api-tutorial",
    description=DESCRIPTION,
    long_description=README,
    long_description_content_type="text/markdown",
    version="0.1.0",
    license="MIT",
    packages=find_packages(where="src"),
    package_dir={"": "src"},
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    # A plugin command: `flask keys generate` runs without loading the app, whose
    # start-up would refuse the key file that the command is about to create.
    entry_points={"flask.commands": ["keys = flask_api_tutorial.cli:keys_cli"]},
)
