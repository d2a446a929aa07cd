"""The API's side of a network partition, run inside the test's network namespace.

    ip netns exec NAME python -m tests.support.partition_client SETTINGS_JSON GIVE_UP

Builds the app on SETTINGS_JSON (the testing configuration, its database reached
across the namespace's link), logs in as tests/util.py's user and prints "ready".
Each line then read from stdin ("request") sends GET /api/v1/auth/user with that
token and prints one JSON line: the status, the body and the seconds it took, or a
null status if no answer came within GIVE_UP seconds (the process then exits: the
request may wait for much longer). Nothing here waits without a bound.
"""

import json
import os
import sys
import threading
import time

from flask_api_tutorial import create_app
from tests.util import EMAIL, PASSWORD, path_for


def main(settings, give_up):
    """Serve the requests the test asks for, until stdin closes or one gets no answer."""
    app = create_app("testing", settings)
    client = app.test_client()
    login = client.post(
        path_for(app, "api.auth_login"), json={"email": EMAIL, "password": PASSWORD}
    )
    if login.status_code != 200:
        print(json.dumps({"login": login.status_code, "body": login.get_json()}), flush=True)
        return
    token = login.get_json()["access_token"]
    path = path_for(app, "api.auth_user")
    print("ready", flush=True)
    for _ in sys.stdin:
        answered = {}

        def send(answered=answered):
            started = time.monotonic()
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            answered.update(
                status=response.status_code,
                body=response.get_json(),
                seconds=time.monotonic() - started,
            )

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        thread.join(give_up)
        print(json.dumps(answered or {"status": None}), flush=True)
        if not answered:
            os._exit(0)  # the request still waits; it is this process's only business


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), float(sys.argv[2]))
