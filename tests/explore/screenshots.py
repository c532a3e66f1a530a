"""Screenshots of the explorer for the docs, and its budget figures, measured in headless Chromium.

    python tests/explore/screenshots.py [--out docs/images]

Prints: the size of the page's JS + CSS, requests that left the server (none: it works offline), the time from
navigation to the first drawn point, and the time from a drag's pointer event to the finished redraw on a
40 x 40 grid.  Timings are measurements for the docs, not test assertions.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from jacx.explore._app import Session
    from jacx.explore._browser import launch, missing_browser
    from jacx.explore._security import new_token
    from jacx.explore._server import ExplorerServer

    why = missing_browser()
    if why:
        raise SystemExit(why)
    server = ExplorerServer(Session(token=new_token())).warm_up().start()
    origin = f"http://127.0.0.1:{server.port}/"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1320, "height": 1080})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server.url)
        page.wait_for_function("() => Number(document.body.dataset.pointVersion) >= 1", timeout=60_000)
        ready = float(page.evaluate("() => document.body.dataset.readyMs"))
        sizes = page.evaluate("() => performance.getEntriesByType('resource').filter((e) => /explore\\.(js|css)/"
                              ".test(e.name)).map((e) => e.decodedBodySize)")
        page.screenshot(path=str(out / "explore-map.png"))

        def choose(key: str) -> None:
            before = int(page.evaluate("() => Number(document.body.dataset.pointVersion)"))
            page.select_option("#preset", key)
            page.wait_for_function("(v) => Number(document.body.dataset.pointVersion) > v", arg=before,
                                   timeout=60_000)

        choose("gradient")
        page.screenshot(path=str(out / "explore-gradient.png"))
        choose("fold")
        page.locator(".plots").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "explore-numbers.png"), full_page=True, clip={
            "x": 0, "y": page.locator(".numbers").bounding_box()["y"] - 10, "width": 1320, "height": 1000})

        # a drag on a 40 x 40 grid: time from each pointer event to the finished redraw
        grid = int(page.evaluate("() => Number(document.body.dataset.gridVersion)"))
        page.select_option("#cells", "40")
        page.wait_for_function("(v) => Number(document.body.dataset.gridVersion) > v", arg=grid, timeout=60_000)
        page.evaluate("() => { window.jacxTimings.length = 0; }")
        box = page.locator("#domain").bounding_box()
        x0, y0 = box["x"] + 100, box["y"] + 120
        page.mouse.move(x0, y0)
        page.mouse.down()
        for k in range(60):
            page.mouse.move(x0 + 4 * k, y0 + 3 * k)
            page.wait_for_timeout(16)  # about one frame between pointer events, as a hand drags
        page.mouse.up()
        page.wait_for_timeout(500)
        timings = page.evaluate("() => window.jacxTimings.slice()")
        browser.close()
    server.close()
    foreign = [u for u in requests if not u.startswith(origin) and not u.startswith("data:")]
    print(f"JS + CSS: {sum(sizes)} bytes ({' + '.join(map(str, sizes))})")
    print(f"requests to anything but the local server: {len(foreign)} {foreign[:3]}")
    print(f"first point drawn {ready:.0f} ms after navigation started")
    print(f"drag on a 40 x 40 grid: {len(timings)} redraws, median {statistics.median(timings):.1f} ms, "
          f"90th percentile {sorted(timings)[int(0.9 * len(timings))]:.1f} ms, max {max(timings):.1f} ms")
    print(f"screenshots in {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="folder for the PNG files")
    main(parser.parse_args().out)
