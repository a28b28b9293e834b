"""Checks of an explorer site in a real browser: Debian's headless Chromium driven by Selenium.

Shared by tests/test_explorer_browser.py (a simulated run) and tests/test_workflow.py
(the test config's real run). Expectations come from the run's CSV files, never from the
site's own data files, so that a wrong site cannot agree with itself.

Without chromium, chromedriver or selenium the tests skip with the reason, unless
VISCHANGE_REQUIRE_BROWSER=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

CHROMIUM = os.environ.get("VISCHANGE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VISCHANGE_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser_problem() -> str | None:
    """Why no browser test can run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} is missing: apt-get install {package} (Debian), as .ci/run does"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


def start_browser(width: int = 1400, height: int = 1000):
    """A headless Chromium under Selenium with the page's console log collected; skips (or
    fails with VISCHANGE_REQUIRE_BROWSER=1) where there is none."""
    problem = browser_problem()
    if problem:
        if os.environ.get("VISCHANGE_REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def open_view(driver, url: str, timeout: float = 60) -> float:
    """Load `url` and wait until the page marks its view ready (body[data-ready=1]);
    returns the seconds the wait took. Fails on the page's own error banner."""
    start = time.perf_counter()
    driver.get(url)
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if driver.execute_script("return document.body && document.body.dataset.ready") == "1":
            break
        time.sleep(0.02)
    else:
        raise AssertionError(f"{url}: not ready after {timeout} s")
    took = time.perf_counter() - start
    error = driver.execute_script("const e = document.getElementById('error'); return e.hidden ? '' : e.textContent")
    assert not error, f"{url}: the page reports {error!r}"
    return took


def console_errors(driver) -> list[str]:
    """The page's console messages of level SEVERE since the last call (errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def expected_order(channels: pd.DataFrame, layer: str, column: str = "effect_size") -> list[int]:
    """Channels of `layer` in compare/channels.csv by `column`, largest first, missing values
    last, ties by channel: what sorting the table by change must show."""
    part = channels[channels.layer == layer]
    present = part[part[column].notna()].sort_values([column, "channel"], ascending=[False, True])
    absent = part[part[column].isna()].sort_values("channel")
    return [int(c) for c in pd.concat([present, absent]).channel]


def table_order(driver, url: str) -> list[int]:
    """Every row's channel of the channel table at `url`, page after page."""
    order = []
    open_view(driver, url)
    while True:
        order += [int(c) for c in driver.execute_script(
            "return [...document.querySelectorAll('#channel-table tbody tr')].map(r => r.dataset.channel)")]
        nxt = driver.execute_script("const a = document.querySelector('.next-page'); return a && a.getAttribute('href')")
        if not nxt:
            return order
        open_view(driver, url.split("#")[0] + nxt)


def shown_images(driver, container: str) -> list[tuple[Path, int]]:
    """(file, natural width) of every <img> inside the element matching CSS `container`."""
    found = driver.execute_script(
        f"return [...document.querySelectorAll({container!r} + ' img')].map(i => [i.src, i.naturalWidth])")
    return [(Path(unquote(urlparse(src).path)), width) for src, width in found]


def check_site(driver, site: Path, *, layers: list[str], nets: list[str], compare_channels: pd.DataFrame,
               render_tables: dict, example_tables: dict, shots: Path) -> dict:
    """Every view of the site at `site` in the browser, with a screenshot of each in `shots`:

    * no console error on any view;
    * the channel table sorted by change lists each layer's channels as compare/channels.csv
      sorted by effect size does (all pages);
    * the channel view of the most changed channel shows exactly that channel's renders
      (every network and seed) and dataset-example strips, loaded, byte-identical to the run's;
    * every atlas loads; zooming in enlarges the grid; hovering a cell shows its details;
    * the top-maps view of each network loads.

    `render_tables`, `example_tables`: {(net, layer): path} of the run. Returns what was
    measured (seconds to each view)."""
    base = site.resolve().as_uri() + "/index.html"
    shots.mkdir(parents=True, exist_ok=True)
    timing = {}
    console_errors(driver)  # drop messages from before

    timing["overview"] = open_view(driver, base)
    driver.save_screenshot(str(shots / "overview.png"))
    assert not console_errors(driver)

    for i, layer in enumerate(layers):
        url = f"{base}#view=channels&layer={i}&sort=effect_size&desc=1"
        assert table_order(driver, url) == expected_order(compare_channels, layer), layer
        assert not console_errors(driver)
    timing["channels"] = open_view(driver, f"{base}#view=channels&layer=0&sort=effect_size&desc=1")
    driver.save_screenshot(str(shots / "channels.png"))
    assert not console_errors(driver)

    layer = layers[-1]
    channel = expected_order(compare_channels, layer)[0]
    i = layers.index(layer)
    timing["channel"] = open_view(driver, f"{base}#view=channel&layer={i}&channel={channel}")
    driver.save_screenshot(str(shots / "channel.png"))
    shown = shown_images(driver, "#channel-images")
    assert all(width > 0 for _, width in shown), [p for p, w in shown if not w]
    expected = {}
    for net in nets:
        table = pd.read_csv(render_tables[(net, layer)])
        rows = table[table.channel == channel]
        assert len(rows), f"channel {channel} of {layer} has no render in {net}"
        for row in rows.itertuples(index=False):
            expected[(site / f"img/renders/{net}/{i}/{row.file}").resolve()] = Path(render_tables[(net, layer)]).parent / row.file
        expected[(site / f"img/examples/{net}/{i}/c{channel:04d}.png").resolve()] = (
            Path(example_tables[(net, layer)]).parent / "examples" / f"c{channel:04d}.png")
    assert sorted(p.resolve() for p, _ in shown) == sorted(expected), "the channel view shows other files"
    for page_file, run_file in expected.items():
        assert page_file.read_bytes() == run_file.read_bytes(), page_file
    assert not console_errors(driver)

    atlases = driver.execute_script("return VX.store['index:0'].atlases.length")
    for k in range(atlases):
        timing[f"atlas{k}"] = open_view(driver, f"{base}#view=atlases&atlas={k}")
        if k == 0:
            driver.save_screenshot(str(shots / "atlas.png"))
        before = driver.execute_script("return document.getElementById('atlas-image').getBoundingClientRect().width")
        driver.find_element("id", "zoom-in").click()
        driver.find_element("id", "zoom-in").click()
        after = driver.execute_script("return document.getElementById('atlas-image').getBoundingClientRect().width")
        scale = float(driver.execute_script("return document.getElementById('atlas-viewport').dataset.scale"))
        assert scale > 1 and after > before * 1.5, (before, after, scale)
        from selenium.webdriver.common.action_chains import ActionChains

        viewport = driver.find_element("id", "atlas-viewport")
        ActionChains(driver).move_to_element(viewport).click().perform()
        assert driver.execute_script("return document.getElementById('cell-info').dataset.cell"), "no cell details"
        if k == 0:
            driver.save_screenshot(str(shots / "atlas_zoomed.png"))
        assert not console_errors(driver)

    for net in nets:
        timing[f"topmaps_{net}"] = open_view(driver, f"{base}#view=topmaps&net={net}")
        driver.execute_script("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
        time.sleep(0.3)
        driver.save_screenshot(str(shots / f"topmaps_{net}.png"))
        assert not console_errors(driver)
    return timing
