"""The yardstick: a bare Flask view returning a small JSON dict, nothing else."""

from flask import Flask

app = Flask(__name__)


@app.get("/bare")
def bare():
    """Return a small JSON dict, as the API's user endpoint does."""
    return {"status": "ok", "message": "a small JSON body from a bare Flask view"}
