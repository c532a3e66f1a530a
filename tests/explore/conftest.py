"""Fixtures for the explorer's tests: a real server on 127.0.0.1 and a headless Chromium page."""

import os

import pytest

pytest.importorskip("starlette", reason="the explorer's server needs starlette (pip install 'jacx[explore]')")
pytest.importorskip("uvicorn", reason="the explorer's server needs uvicorn (pip install 'jacx[explore]')")


def start_server(**session_fields):
    from jacx.explore._app import Session
    from jacx.explore._security import new_token
    from jacx.explore._server import ExplorerServer

    session = Session(token=new_token(), **session_fields)
    return ExplorerServer(session).warm_up().start()


@pytest.fixture(scope="module")
def server():
    """A running explorer (the default first map), stopped after the module."""
    srv = start_server()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright; skipped when either is missing, unless JACX_REQUIRE_BROWSER=1
    (set by CI), which makes a missing browser a failure."""
    from jacx.explore._browser import launch, missing_browser

    why = missing_browser()
    if why is not None:
        if os.environ.get("JACX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (JACX_REQUIRE_BROWSER=1) but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch(pw)
        yield chromium
        chromium.close()
