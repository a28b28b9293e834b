"""The explorer at the real study's scale: build time, site size, and how soon the channel
table is usable in headless Chromium.

Simulates the inputs of the dogs study's render stage (config/dogs.yaml: layer3.5 with
1,024 channels and layer4.0-4.2 with 2,048 each, 7,168 channels per network) for 2
networks x 3 seeds, with small placeholder PNGs (`--image-size` pixels; a pool of
`--distinct` different pictures written over and over), plus tables, atlases and top maps
(vischange.explorer.simulate). Then builds the site (vischange.explorer.stages.build_site)
and opens it from the file system in Debian's headless Chromium through Selenium:

* table usable: from the start of navigation to the channel table of a 2,048-channel layer,
  sorted by change, drawn with its first page (the page's own mark, body[data-ready=1]);
  reported as the browser's clock (performance.now() at the mark, from navigation start)
  and as wall-clock seconds around Selenium's get();
* thumbnails: until every thumbnail in the window has loaded (the rest load as one scrolls);
* re-sort: clicking the q-value column until the table is drawn again;
* channel view: navigation to one channel's view until ready.

Each is measured `--runs` times, each run in a fresh browser (nothing cached), and the
median reported. Site size: every file counted in full (what a static host stores), and
the bytes the site adds beside the results when renders are hard-linked.

    PYTHONPATH=src python benchmarks/explorer_scale.py [--root /tmp/explorer-bench] [--runs 3]

Writes benchmarks/explorer_scale.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

LAYERS = {"layer3.5": 1024, "layer4.0": 2048, "layer4.1": 2048, "layer4.2": 2048}


def browser(chromium: str, chromedriver: str):
    """Headless Chromium (Debian's) under Selenium, as tests/explorer_browser.py starts it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def wait_ready(driver, timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while driver.execute_script("return document.body && document.body.dataset.ready") != "1":
        if time.perf_counter() > deadline:
            raise TimeoutError("the page did not mark itself ready")
        time.sleep(0.005)


def measure(url: str, layer_index: int, channel: int, chromium: str, chromedriver: str) -> dict:
    """One run in a fresh browser: seconds to each milestone (see the module docstring)."""
    driver = browser(chromium, chromedriver)
    try:
        start = time.perf_counter()
        driver.get(f"{url}#view=channels&layer={layer_index}&sort=effect_size&desc=1")
        wait_ready(driver)
        wall = time.perf_counter() - start
        in_page = driver.execute_script("return VX.readyAt") / 1000
        rows = driver.execute_script("return document.querySelectorAll('#channel-table tbody tr').length")
        # Thumbnails below the fold are lazy and never load in a still window: wait for those in view.
        while not driver.execute_script(
                "return [...document.querySelectorAll('#channel-table img')]"
                ".filter(i => i.getBoundingClientRect().top < innerHeight)"
                ".every(i => i.complete && i.naturalWidth > 0)"):
            if time.perf_counter() - start > 120:
                raise TimeoutError("thumbnails in view did not load")
            time.sleep(0.005)
        thumbs = time.perf_counter() - start
        start = time.perf_counter()
        # Unmark first: the click re-renders on the next hashchange event, not at once.
        driver.execute_script("document.body.dataset.ready = '0'; document.querySelector(\"th[data-col='q_value']\").click()")
        wait_ready(driver)
        resort = time.perf_counter() - start
        start = time.perf_counter()
        driver.execute_script("document.body.dataset.ready = '0'")
        driver.get(f"{url}#view=channel&layer={layer_index}&channel={channel}")
        wait_ready(driver)
        channel_view = time.perf_counter() - start
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    return {"table_usable_in_page_s": in_page, "table_usable_wall_s": wall, "first_page_rows": rows,
            "thumbnails_loaded_s": thumbs, "resort_s": resort, "channel_view_s": channel_view, "console_errors": errors}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("/tmp/explorer-bench"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--distinct", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--reuse", action="store_true", help="measure the site already built under --root")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()

    from vischange.explorer import simulate, stages

    site = args.root / "site"
    if args.reuse:
        info = json.loads((site / "site.json").read_text())
        simulate_s = build_s = None
    else:
        if args.root.exists():
            shutil.rmtree(args.root)
        t0 = time.perf_counter()
        inputs = simulate.simulate_run(args.root, LAYERS, seeds=tuple(range(args.seeds)), image_size=args.image_size,
                                       distinct_images=args.distinct, atlas_grid=20)
        simulate_s = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        info = stages.build_site(site, **inputs)
        build_s = round(time.perf_counter() - t0, 1)

    parts = {name: folder_bytes(site / name) for name in ("data", "img/thumbs", "img/renders", "img/examples")}
    channels = info["channels_per_network"]
    layer_index = list(LAYERS).index("layer4.2")
    url = site.resolve().as_uri() + "/index.html"
    runs = [measure(url, layer_index, 1234, args.chromium, args.chromedriver) for _ in range(args.runs)]
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k.endswith("_s")}
    version = subprocess.run([args.chromium, "--version"], capture_output=True, text=True).stdout.strip()
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU; {platform.platform()}",
        "browser": version,
        "simulated": {"networks": 2, "channels_per_network": channels, "seeds": args.seeds, "layers": LAYERS,
                      "render_png_pixels": args.image_size, "render_pngs": 2 * channels * args.seeds},
        "simulate_s": simulate_s,
        "build_s": build_s,
        "site": {**{k: info[k] for k in ("files", "bytes", "own_bytes", "bytes_per_1000_channels", "linked", "copied")},
                 "bytes_by_folder": parts,
                 # Without the renders and example strips, which scale with the run's image size:
                 "data_and_thumbnails_per_1000_channels": round((parts["data"] + parts["img/thumbs"]) * 1000 / channels)},
        "median": {k: round(v, 3) for k, v in median.items()},
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
