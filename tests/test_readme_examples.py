"""Every curl and httpie example of the README, run in order against a live server.

An example is a ```sh block that talks to the `make run` server (127.0.0.1:5000 or
:5000). The block after it, if any, is what it shows: an ```http block (status line,
headers, JSON body; "…" stands for any value) or a ```text block (exact output).

The server mails through SMTP to a real server in this process (aiosmtpd); where the
README has the reader paste a mailed token ('<token of the latest mail to ADDRESS>'), the
script reads it from what that server received.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import API
from tests.support.servers import ROOT, GunicornServer
from tests.support.smtp import MailCatcher

pytestmark = [pytest.mark.served]

README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
ANY = "…"
# A curl or httpie command that talks to the `make run` server.
EXAMPLE = re.compile(r"\b(curl|http)\b[^\n]*(127\.0\.0\.1)?:5000/", re.MULTILINE)


def readme_examples():
    """Return [(command, kind, shown)] for every example block, in README order."""
    blocks = [(m.group(1), m.group(2)) for m in FENCE.finditer(README.read_text())]
    examples = []
    for index, (kind, body) in enumerate(blocks):
        if kind != "sh" or not EXAMPLE.search(body):
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else (None, None)
        shown_kind, shown = following if following[0] in {"http", "text"} else (None, None)
        examples.append((body, shown_kind, shown))
    return examples


def test_the_readme_has_examples_for_every_endpoint():
    commands = "\n".join(command for command, _, _ in readme_examples())
    for path in (
        "register",
        "login",
        "user",
        "logout",
        "refresh",
        "logout-all",
        "password",
        "password-reset",
        "password-reset/confirm",
        "verify-email",
        "verify-email/resend",
        "sessions",
    ):
        assert re.search(rf"curl [^\n]*\S*{API}/auth/{path}\b", commands), f"curl {path}"
        assert re.search(rf"http [^\n]*:5000{API}/auth/{path}\b", commands), f"httpie {path}"
    for method in ("POST", "GET", "PUT", "DELETE"):
        curl = "-X POST" if method == "POST" else "-X PUT" if method == "PUT" else ""
        curl = "-X DELETE" if method == "DELETE" else curl
        assert re.search(rf"curl [^\n]*{curl}[^\n]*{API}/widgets", commands), f"curl {method}"
        httpie = method if method != "GET" else ""
        assert re.search(rf"http {httpie}[^\n]*:5000{API}/widgets", commands), f"http {method}"


def _add_admin_as_the_readme_does(database_url):
    """Run the README's `flask add-user … --admin`, typing the password it names twice."""
    text = README.read_text()
    email = re.search(r"flask add-user (\S+) --admin", text).group(1)
    password = re.search(r"the examples\s+use `([^`]+)`", text).group(1)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "add-user", email, "--admin"],
        cwd=ROOT,
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "FLASK_APP": "run.py",
            "FLASK_CONFIG": "development",
            "DATABASE_URL": database_url,
        },
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Successfully added new admin user: {email}" in result.stdout


# Where the README has the reader paste the token of the latest mail to an address.
MAILED_TOKEN = re.compile(r"'<token of the latest mail to (\S+)>'")
# Prints the token of the latest mail to an address (a newer token voids the older),
# once the server's outbox holds nothing more for it: every mail asked for so far
# has reached the folder the test's SMTP server writes.
MAIL_TOKEN_SCRIPT = """
import sys, time
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import sqlalchemy

folder, address, database_url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
engine = sqlalchemy.create_engine(database_url)
waiting = sqlalchemy.text(
    "SELECT count(*) FROM mail_outbox WHERE recipient = :address "
    "AND status IN ('pending', 'sending')"
)
deadline = time.monotonic() + 20
while True:
    with engine.connect() as connection:
        if connection.execute(waiting, {"address": address}).scalar() == 0:
            break
    if time.monotonic() > deadline:
        sys.exit(f"mail to {address} still waiting in the outbox after 20 s")
    time.sleep(0.1)
for path in sorted(folder.glob("*.eml"), reverse=True):
    mail = message_from_bytes(path.read_bytes(), policy=default)
    lines = [line for line in mail.get_content().splitlines() if line.startswith("    ")]
    if mail["To"] == address and lines:
        print(lines[0].strip())
        sys.exit(0)
sys.exit(f"no mail with a token to {address}")
"""


@pytest.fixture
def mail_folder(tmp_path):
    """Return a folder where a real SMTP server writes each mail it receives."""
    folder = tmp_path / "mail"
    folder.mkdir()
    with MailCatcher(folder=folder) as catcher:
        yield catcher


@pytest.fixture
def live_server(served_database, mail_folder):
    """Serve the development configuration, as `make run` does, on a free port.

    The README's administrator is added first, with the README's command. Mail goes
    to ``mail_folder``'s SMTP server, sent by the server's own background sender.
    """
    _add_admin_as_the_readme_does(served_database)
    server = GunicornServer(
        served_database,
        workers=1,
        threads=4,
        FLASK_CONFIG="development",
        RATELIMIT_ENABLED="true",
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_folder.port),
        MAIL_SEND_IN_BACKGROUND="true",
        MAIL_POLL_SECONDS="1",
    ).start()
    yield server
    server.stop()


def test_readme_examples_run_as_shown(live_server, mail_folder, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README's examples")
    # httpie prints status line, headers and body in a terminal; the same here.
    config_dir = tmp_path / "httpie"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps({"default_options": ["--print=hb", "--ignore-stdin"]})
    )
    bin_dir = Path(__import__("sys").executable).parent
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HTTPIE_CONFIG_DIR": str(config_dir),
        "HOME": str(tmp_path),
    }
    port = str(live_server.port)
    (tmp_path / "mail_token.py").write_text(MAIL_TOKEN_SCRIPT)
    helper = f"python3 {tmp_path / 'mail_token.py'} {mail_folder.folder}"
    script = [f'mail_token() {{ {helper} "$1" {live_server.env["DATABASE_URL"]}; }}']
    examples = readme_examples()
    assert len(examples) >= 20
    for number, (command, _, _) in enumerate(examples):
        command = command.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
        command = re.sub(r"(?<![\d.]):5000\b", f":{port}", command)
        command = MAILED_TOKEN.sub(r'"$(mail_token \1)"', command)
        script.append(f"echo '@@example {number}'\n{command}")
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outputs = re.split(r"^@@example \d+\n", result.stdout, flags=re.MULTILINE)[1:]
    assert len(outputs) == len(examples), result.stdout
    for (command, kind, shown), output in zip(examples, outputs, strict=True):
        if kind == "http":
            _assert_http_matches(shown, output, command)
        elif kind == "text":
            assert output.strip() == shown.strip(), command


def _assert_http_matches(shown, output, command):
    expected = _parse_http(shown)
    actual = _parse_http(output)
    assert actual["status"] == expected["status"], (command, output)
    for name, value in expected["headers"].items():
        assert name in actual["headers"], (command, name, output)
        if value != ANY:
            assert actual["headers"][name] == value, (command, name, output)
    for key, value in expected["body"].items():
        assert key in actual["body"], (command, key, output)
        if value != ANY:
            assert actual["body"][key] == value, (command, key, output)


def _parse_http(text):
    """Split the last HTTP response in ``text`` into status, headers and JSON body."""
    text = text.replace("\r\n", "\n")
    start = text.rfind("\nHTTP/") + 1 if "\nHTTP/" in text else text.find("HTTP/")
    head, _, body = text[start:].partition("\n\n")
    status, *header_lines = head.strip().split("\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return {
        "status": " ".join(status.split()[1:]),
        "headers": headers,
        "body": json.loads(body) if body.strip() else {},
    }


def _yaml_blocks():
    return re.findall(r"^```yaml\n(.*?)^```\n", README.read_text(), re.MULTILINE | re.DOTALL)


# The README's alert rules, played against series that should and should not fire.
ALERT_TESTS = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: auth_refresh_token_reuse_total{instance="a"}
        values: "0 0 0 1 1 1 1 1 1 1 1 1 1 1 1"
      - series: auth_refresh_token_reuse_total{instance="b"}
        values: "0x14"
      - series: auth_logins_total{instance="a", result="wrong_password"}
        values: "0+40x14"
      - series: auth_logins_total{instance="a", result="success"}
        values: "0+1000x14"
    alert_rule_test:
      - eval_time: 2m
        alertname: RefreshTokenReused
        exp_alerts: []
      - eval_time: 5m
        alertname: RefreshTokenReused
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "A used-up refresh token was presented again: a stolen token replayed?"
              description: "The login it belonged to was ended; find it in the audit log (event=refresh_rejected reason=reused)."
      - eval_time: 14m
        alertname: RefreshTokenReused
        exp_alerts: []
      - eval_time: 10m
        alertname: FailedLoginBurst
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "More than 30 failed logins per minute: credential stuffing?"
              description: "Failed logins by reason: auth_logins_total; refused by the limits: auth_rate_limit_hits_total."
  - interval: 1m
    input_series:
      - series: auth_logins_total{instance="a", result="wrong_password"}
        values: "0+20x14"
      - series: auth_logins_total{instance="a", result="success"}
        values: "0+1000x14"
    alert_rule_test:
      - eval_time: 10m
        alertname: FailedLoginBurst
        exp_alerts: []
"""  # noqa: E501 -- the README's annotations, word for word


@pytest.mark.prometheus
def test_the_readme_prometheus_config_and_alert_rules_pass_promtool(tmp_path):
    """The operator's prometheus.yml and rules are valid, and the alerts fire when they should."""
    config, rules = _yaml_blocks()
    (tmp_path / "prometheus.yml").write_text(config)
    (tmp_path / "flask_api_tutorial.rules.yml").write_text(rules)
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "alerts_test.yml").write_text(ALERT_TESTS)
    for command in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "flask_api_tutorial.rules.yml"],
        ["test", "rules", "alerts_test.yml"],
    ):
        result = subprocess.run(
            [shutil.which("promtool"), *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
