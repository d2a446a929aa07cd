"""Swagger UI in a real headless Chromium, against the API served by gunicorn.

The README's walk-through, clicked as a person would: register with "Try it out",
paste ``Bearer <token>`` into "Authorize", read the current user, log out, and see the
revoked token refused; and a password reset, its token taken from the mail a real
SMTP server caught. A second test proves that the page needs nothing from the
internet: every request it makes goes to the app's own host.

Needs Playwright for Python and Debian's Chromium at /usr/bin/chromium (no browser
download). Without them the tests are skipped with the reason, except with
REQUIRE_BROWSER=1 (set by CI), where they fail.
"""

import json
import os
from urllib.parse import urlsplit

import pytest

from tests.support.paths import DOC
from tests.support.servers import ROOT, GunicornServer
from tests.support.smtp import MailCatcher, token_in
from tests.util import ADMIN_EMAIL, EMAIL, PASSWORD, TOKEN_BLACKLISTED

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    expect = sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
SCREENSHOT = ROOT / "artifacts" / "swagger-ui-final.png"
FAILURE_SCREENSHOT = ROOT / "artifacts" / "swagger-ui-failure.png"


def _missing():
    """Return what this machine lacks to run the browser tests, or an empty string."""
    missing = []
    if sync_playwright is None:
        missing.append("Playwright for Python (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    return " and ".join(missing)


MISSING = _missing()
REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1"
pytestmark = [pytest.mark.served]
if MISSING and not REQUIRED:
    pytestmark.append(
        pytest.mark.skip(
            reason=f"needs {MISSING}; REQUIRE_BROWSER=1 turns this skip into a failure"
        )
    )


@pytest.fixture(scope="module")
def browser():
    """Launch Debian's headless Chromium through Playwright, or fail when CI requires it."""
    if MISSING:
        pytest.fail(f"REQUIRE_BROWSER=1 but this machine lacks {MISSING}")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(app, database):
    """Serve the API with gunicorn on a loopback port, on the app fixture's database."""
    instance = GunicornServer(database, workers=1, threads=4).start()
    yield instance
    instance.stop()
    # Shown by pytest only when the test failed: the server's side of the story.
    print("".join(instance.output))


@pytest.fixture
def page(browser, server):
    """Open a fresh browser page that may only talk to the server's host and port."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    context.set_default_timeout(TIMEOUT_MS)
    own_host = urlsplit(server.url).netloc

    def local_only(route):
        if urlsplit(route.request.url).netloc == own_host:
            route.continue_()
        else:
            route.abort("blockedbyclient")

    # Nothing leaves the machine, whatever the page asks for.
    context.route("**/*", local_only)
    page = context.new_page()
    yield page
    context.close()


def test_a_browser_is_available():
    # Reached only when the module is not skipped: locally with a browser, or in CI.
    assert not MISSING, f"REQUIRE_BROWSER=1 but this machine lacks {MISSING}"


def _operation(page, operation_id, namespace="auth"):
    """Expand an operation of ``namespace`` and switch it to "Try it out"."""
    operation = page.locator(f"#operations-{namespace}-{operation_id}")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    return operation


def _execute(operation, status):
    """Click Execute and return the response body once the panel shows ``status``."""
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    expect(live.locator("tr.response .response-col_status")).to_have_text(status)
    body = live.locator(".response-col_description .highlight-code pre")
    expect(body).to_be_visible()
    return json.loads(body.inner_text())


def _register_authorize_user_logout(page, server):
    """Walk the README's steps through Swagger UI, asserting each response panel."""
    page.goto(server.url + DOC)
    expect(page.locator(".information-container .title")).to_contain_text(
        "Flask API with JWT-Based Authentication"
    )
    # Register with the form fields Swagger UI shows for POST /auth/register.
    register = _operation(page, "post_register_user")
    register.locator('tr[data-param-name="email"] input').fill(EMAIL)
    register.locator('tr[data-param-name="password"] input').fill(PASSWORD)
    body = _execute(register, "201")
    assert body["message"] == "successfully registered"
    token = body["access_token"]

    # Authorize as the dialog's description says: "Bearer", one space, the token.
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_contain_text("Paste the word Bearer, one space")
    dialog.locator(".auth-container input").fill(f"Bearer {token}")
    dialog.get_by_role("button", name="Authorize", exact=True).click()
    expect(dialog.get_by_role("button", name="Logout", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()

    user = _operation(page, "get_get_user")
    assert _execute(user, "200")["email"] == EMAIL
    expect(user.locator(".live-responses-table")).to_contain_text(EMAIL)

    logout = _operation(page, "post_logout_user")
    assert _execute(logout, "200") == {
        "status": "success",
        "message": "successfully logged out",
    }

    # The same token, still in the Authorize dialog, is now refused.
    assert _execute(user, "401") == {"message": TOKEN_BLACKLISTED}


def test_register_authorize_user_logout_in_swagger_ui(page, server):
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    try:
        _register_authorize_user_logout(page, server)
    except Exception:
        page.screenshot(path=FAILURE_SCREENSHOT, full_page=True)
        raise
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 0


def _authorize(page, token):
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.locator(".auth-container input").fill(f"Bearer {token}")
    dialog.get_by_role("button", name="Authorize", exact=True).click()
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()


def test_an_admin_creates_a_widget_in_swagger_ui(page, server, admin):
    """Log in as the administrator, authorize, create a widget with Try it out, read it."""
    try:
        page.goto(server.url + DOC)
        login = _operation(page, "post_login_user")
        login.locator('tr[data-param-name="email"] input').fill(ADMIN_EMAIL)
        login.locator('tr[data-param-name="password"] input').fill(PASSWORD)
        _authorize(page, _execute(login, "200")["access_token"])
        create = _operation(page, "post_widget_list", namespace="widgets")
        create.locator('tr[data-param-name="name"] input').fill("tetraWIDG")
        create.locator('tr[data-param-name="info_url"] input').fill("https://example.com/t")
        create.locator('tr[data-param-name="deadline"] input').fill("12/31/2099")
        assert _execute(create, "201") == {
            "status": "success",
            "message": "New widget added: tetraWIDG.",
        }
        read = _operation(page, "get_widget", namespace="widgets")
        read.locator('tr[data-param-name="name"] input').fill("TETRAwidg")
        widget = _execute(read, "200")
        assert widget["name"] == "tetraWIDG"
        assert widget["deadline"] == "12/31/99 11:59:59 PM UTC"
        assert widget["owner"]["email"] == ADMIN_EMAIL
    except Exception:
        page.screenshot(path=FAILURE_SCREENSHOT, full_page=True)
        raise


def test_swagger_ui_loads_nothing_from_other_hosts(page, server):
    requests = []
    page.on("request", lambda request: requests.append(request))
    page.goto(server.url + DOC)
    expect(page.locator("#operations-auth-post_register_user")).to_be_visible()
    own_host = urlsplit(server.url).netloc
    assets = [r.url for r in requests if r.resource_type in ("script", "stylesheet")]
    assert any(url.endswith("/swagger-ui-bundle.js") for url in assets), assets
    assert any(url.endswith("/swagger-ui.css") for url in assets), assets
    elsewhere = [r.url for r in requests if urlsplit(r.url).netloc != own_host]
    assert elsewhere == []


@pytest.fixture
def mailbox():
    """Return a real SMTP server (aiosmtpd) the served API mails through."""
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
def mailing_server(app, database, mailbox):
    """Serve the API with gunicorn, mailing through ``mailbox`` (its background sender)."""
    instance = GunicornServer(
        database,
        workers=1,
        threads=4,
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mailbox.port),
        MAIL_SEND_IN_BACKGROUND="true",
    ).start()
    yield instance
    instance.stop()
    print("".join(instance.output))


def test_a_password_reset_in_swagger_ui(browser, mailing_server, mailbox, user):
    """Ask for a reset, take the token from the mail caught, confirm, log in with it."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    new_password = "a-password-from-the-mail"
    try:
        page.goto(mailing_server.url + DOC)
        reset = _operation(page, "post_request_password_reset", namespace="account")
        reset.locator('tr[data-param-name="email"] input').fill(EMAIL)
        assert _execute(reset, "202") == {
            "status": "success",
            "message": "If that address is registered, a reset link is on its way.",
        }
        (mail,) = mailbox.wait_for(EMAIL)
        assert mailing_server.url.rsplit(":", 1)[0] in mail.get_content()  # the UI's link
        confirm = _operation(page, "post_confirm_password_reset", namespace="account")
        confirm.locator('tr[data-param-name="token"] input').fill(token_in(mail))
        confirm.locator('tr[data-param-name="password"] input').fill(new_password)
        body = _execute(confirm, "200")
        assert body["message"] == "successfully reset password"
        login = _operation(page, "post_login_user")
        login.locator('tr[data-param-name="email"] input').fill(EMAIL)
        login.locator('tr[data-param-name="password"] input').fill(new_password)
        assert _execute(login, "200")["message"] == "successfully logged in"
    except Exception:
        page.screenshot(path=FAILURE_SCREENSHOT, full_page=True)
        raise
    finally:
        context.close()
