"""FLASK_APP entry point: builds the app named by $FLASK_CONFIG (default development)."""

import sys

from dotenv import load_dotenv

from flask_api_tutorial import create_app
from flask_api_tutorial.config import ConfigError

load_dotenv()

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"Configuration error: {error}")
