"""Screenshots of every view of a finished run's explorer, for the README.

Opens results/{experiment}/explorer/index.html from the file system in Debian's headless
Chromium (through Selenium) and saves one PNG per view: the overview, the channel table of
the last render layer sorted by change, the channel view of its most changed channel, the
comparison atlas of the last atlas layer with the details of its cell best populated in both networks, and the top
maps of the fine-tuned network. Fails if the page logs a console error.

    PYTHONPATH=src python benchmarks/explorer_screenshots.py results/demo [--out docs]

Writes {out}/{prefix}_{overview,channels,channel,atlas,topmaps}.png (prefix: demo_explorer).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from explorer_scale import browser, wait_ready


def _data(path: Path) -> dict:
    """The JSON inside a data file of the site (VX.put(kind, key, {...});)."""
    text = path.read_text()
    return json.loads(text[text.index("{"):text.rindex("}") + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a finished run's results/{experiment} folder")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--prefix", default="demo_explorer")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()

    site = args.results / "explorer"
    index = _data(site / "data/index.js")
    last = len(index["layers"]) - 1
    layer = index["layers"][last]["name"]
    channels = pd.read_csv(args.results / "compare/channels.csv")
    part = channels[(channels.layer == layer) & channels.effect_size.notna()]
    channel = int(part.sort_values(["effect_size", "channel"], ascending=[False, True]).channel.iloc[0]) if len(part) else 0
    compare = [a["index"] for a in index["atlases"] if a["net"] == "compare"]
    atlas = compare[-1] if compare else 0
    views = {
        "overview": "#view=overview",
        "channels": f"#view=channels&layer={last}&sort=effect_size&desc=1",
        "channel": f"#view=channel&layer={last}&channel={channel}",
        "atlas": f"#view=atlases&atlas={atlas}",
        "topmaps": f"#view=topmaps&net={index['nets'][-1]}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    url = site.resolve().as_uri() + "/index.html"
    driver = browser(args.chromium, args.chromedriver)
    try:
        for name, view in views.items():
            if name == "atlas" and not index["atlases"]:
                continue
            driver.get(url + view)
            wait_ready(driver)
            # Load lazy images too, so that the picture shows them.
            driver.execute_script("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
            if name == "atlas":
                from selenium.webdriver.common.action_chains import ActionChains

                # Pin the cell best populated in every network shown (its smallest count;
                # the centre of an atlas is often empty), at the default zoom.
                cells = _data(site / f"data/atlas-{atlas}.js")
                counts = [j for j, c in enumerate(cells["columns"]) if c == "count" or c.startswith("count_")]
                best = max(range(len(cells["rows"])), key=lambda i: (min(cells["rows"][i][j] or 0 for j in counts), -i))
                r, c = divmod(best, cells["n"])
                image = driver.find_element("id", "atlas-image")
                side = image.rect["width"] / cells["n"]
                ActionChains(driver).move_to_element_with_offset(
                    image, int((c + 0.5) * side - image.rect["width"] / 2), int((r + 0.5) * side - image.rect["height"] / 2)
                ).click().perform()
            time.sleep(0.5)
            path = args.out / f"{args.prefix}_{name}.png"
            driver.save_screenshot(str(path))
            print(path)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    if errors:
        raise SystemExit("console errors:\n" + "\n".join(errors))


if __name__ == "__main__":
    main()
