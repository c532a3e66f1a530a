"""Headless Chromium for the explorer's browser tests and screenshots (Debian's ``chromium`` package).

Playwright drives the system's Chromium (``/usr/bin/chromium``, or the path in ``JACX_CHROMIUM``); it never
downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

__all__ = ["CHROMIUM_ARGS", "chromium_path", "missing_browser", "launch"]

CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
"""Flags for a quiet, offline headless Chromium (``--no-sandbox``: CI runs as root)."""


def chromium_path() -> str:
    """The Chromium executable: ``JACX_CHROMIUM`` if set, else Debian's ``/usr/bin/chromium``.

    >>> chromium_path().endswith("chromium") or "JACX_CHROMIUM" in __import__("os").environ
    True
    """
    return os.environ.get("JACX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (``None`` when Playwright and Chromium are both present)."""
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install playwright; no browser download is needed)"
    if not os.access(chromium_path(), os.X_OK):
        return f"Chromium is not installed at {chromium_path()} (apt-get install chromium, or set JACX_CHROMIUM)"
    return None


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a started ``sync_playwright()`` object."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
