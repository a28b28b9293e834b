"""The explorer in a real browser (headless Chromium from Debian, driven by Selenium), on a
simulated run: no console errors, sorting by change as in the CSV, the channel view's
files, the atlas's zoom; a screenshot of every view under the test's tmp folder.

The same checks run on the test config's real run in tests/test_workflow.py (check_explorer).
"""

from __future__ import annotations

import functools
import http.server
import threading

import pandas as pd
import pytest

from vischange.explorer import simulate, stages

from .explorer_browser import check_site, console_errors, expected_order, open_view, start_browser

LAYERS = {"layer3.1": 23, "layer4.1": 9}


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer-sim")
    inputs = simulate.simulate_run(root, LAYERS, seeds=(0, 1, 2))
    site = root / "site"
    # A small page so that the sorted table spans several pages.
    stages.build_site(site, **inputs, settings={"page_size": 10})
    return site, inputs


def test_every_view_in_the_browser(browser, sim, tmp_path_factory):
    site, inputs = sim
    shots = tmp_path_factory.mktemp("explorer-screenshots")
    timing = check_site(browser, site, layers=inputs["layers"], nets=inputs["nets"],
                        compare_channels=pd.read_csv(inputs["compare_channels"]),
                        render_tables=inputs["render_tables"], example_tables=inputs["example_tables"], shots=shots)
    assert {"overview", "channels", "channel", "atlas0", "topmaps_base"} <= set(timing)
    for name in ("overview", "channels", "channel", "atlas", "atlas_zoomed", "topmaps_base", "topmaps_finetuned"):
        assert (shots / f"{name}.png").stat().st_size > 1000, name
    print(f"screenshots in {shots}")


def test_filters_and_channel_links(browser, sim):
    site, inputs = sim
    base = site.resolve().as_uri() + "/index.html"
    table = pd.read_csv(inputs["compare_channels"])
    layer = inputs["layers"][0]
    part = table[table.layer == layer]
    open_view(browser, f"{base}#view=channels&layer=0&status=changed")
    count = browser.execute_script("return document.getElementById('row-count').textContent")
    assert count.startswith(f"{(part.status == 'changed').sum()} of {len(part)}")
    open_view(browser, f"{base}#view=channels&layer=0&qmax=0.5")
    count = browser.execute_script("return document.getElementById('row-count').textContent")
    assert count.startswith(f"{(part.q_value <= 0.5).sum()} of")
    # A channel's link opens that channel; next follows the table's order.
    open_view(browser, f"{base}#view=channels&layer=0&sort=effect_size&desc=1")
    first, second = browser.execute_script(
        "return [...document.querySelectorAll('#channel-table tbody tr')].slice(0, 2).map(r => r.dataset.channel)")
    browser.find_element("css selector", f"#channel-table tr[data-channel='{first}'] a").click()
    assert browser.execute_script("return document.body.dataset.ready") in ("0", "1")
    open_view(browser, browser.current_url)
    assert f"channel {first}" in browser.find_element("tag name", "h2").text
    next_href = browser.find_element("id", "next-channel").get_attribute("href")
    assert next_href.endswith(f"channel={second}")
    # The right arrow key steps to it.
    browser.execute_script("document.body.dataset.ready = '0'")
    browser.find_element("tag name", "body").send_keys("\ue014")  # Keys.ARROW_RIGHT
    open_view(browser, browser.current_url)
    assert browser.current_url.endswith(f"channel={second}")
    # The grid shows the same channels in the same order as the table's first page.
    open_view(browser, f"{base}#view=channels&layer=0&sort=effect_size&desc=1&mode=grid")
    tiles = browser.execute_script("return [...document.querySelectorAll('#channel-grid .tile')].map(t => t.dataset.channel)")
    assert [int(t) for t in tiles] == expected_order(table, layer)[:10]
    assert not console_errors(browser)


def test_the_site_works_from_a_static_http_host(browser, sim):
    """The same folder served over HTTP (as a static host would) works, not only file://."""
    site, inputs = sim
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        console_errors(browser)
        for view in ("", "#view=channels&layer=1", "#view=channel&layer=1&channel=2", "#view=atlases&atlas=1",
                     "#view=topmaps&net=finetuned"):
            open_view(browser, url + view)
        assert not console_errors(browser)
    finally:
        server.shutdown()
