"""The explorer's pure parts: the channel table, sorting, the data files, the site's files.
The page itself is tested in a browser by tests/test_explorer_browser.py."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vischange.explorer import figures, simulate, stages, tables
from vischange.explorer.site import SiteWriter, site_size


def _payload(text: str):
    """(kind, key, data) of a data file written by tables.js_payload."""
    assert text.startswith("VX.put(") and text.endswith(");\n")
    kind, key, rest = text[len("VX.put("):-3].split(",", 2)
    return json.loads(kind), json.loads(key), json.loads(rest.replace("<\\/", "</"))


def _inputs():
    compare = pd.DataFrame({
        "layer": ["a"] * 3 + ["b"],
        "channel": [0, 1, 2, 0],
        "status": ["changed", "died", "unchanged", "born"],
        "effect_size": [2.0, np.nan, 0.5, np.nan],
        "p_value": [0.01, np.nan, 0.4, np.nan],
        "q_value": [0.03, np.nan, 0.4, np.nan],
        "significant": [True, False, False, False],
        "cosine": [0.3, 0.9, 0.8, 0.1],
        "noise_floor": [0.6] * 4,
        "change_score": [1.75, 0.25, 0.5, 2.25],
        "gray_base": [False, False, False, True],
        "gray_finetuned": [False, True, False, False],
    })
    activation = pd.DataFrame({"layer": ["a", "a", "a"], "channel": [0, 1, 2], "correlation": [0.25, np.nan, 1.0]})
    renders = {
        (net, "a"): pd.DataFrame({"layer": "a", "channel": [0, 0, 1, 1, 2, 2], "seed": [0, 1] * 3,
                                  "file": [f"c{c:04d}_s{s}.png" for c in range(3) for s in (0, 1)],
                                  "activation_ratio": [1.0, 3.0, 2.0, 2.0, 5.0, 7.0] if net == "base" else [1.0] * 6,
                                  "dataset_mean": [0.5] * 6})
        for net in ("base", "finetuned")
    }
    return compare, activation, renders


def test_channel_table_joins_the_stages_tables_by_channel():
    compare, activation, renders = _inputs()
    table = tables.channel_table(compare, activation, renders, "a")
    assert list(table.columns) == tables.TABLE_COLUMNS
    assert list(table.channel) == [0, 1, 2]
    assert list(table.status) == ["changed", "died", "unchanged"]
    assert list(table.died) == [False, True, False] and not table.born.any()
    assert list(table.gray_finetuned) == [False, True, False]
    # activation change = 1 - correlation; a constant channel (no correlation) stays empty.
    assert table.activation_change[0] == 0.75 and math.isnan(table.activation_change[1]) and table.activation_change[2] == 0
    # The renders' activation ratio is the mean over seeds, per network.
    assert list(table.activation_ratio_base) == [2.0, 2.0, 6.0] and list(table.activation_ratio_finetuned) == [1.0] * 3
    no_change = tables.channel_table(compare, None, renders, "a")
    assert no_change.correlation.isna().all()


def test_channel_table_refuses_a_rendered_channel_without_a_test():
    compare, activation, renders = _inputs()
    with pytest.raises(ValueError, match=r"no row for rendered channels \[2\]"):
        tables.channel_table(compare[compare.channel != 2], activation, renders, "a")


def test_sort_order_puts_missing_values_last_and_breaks_ties_by_channel():
    values = [1.0, None, 3.0, float("nan"), 1.0, 2.0]
    channels = [5, 1, 2, 0, 3, 4]
    # Ascending: 1.0 (channels 3 then 5), 2.0, 3.0, then missing by channel (0, 1).
    assert [channels[i] for i in tables.sort_order(values, channels)] == [3, 5, 4, 2, 0, 1]
    # Descending: 3.0, 2.0, 1.0 ties still by ascending channel, missing still last.
    assert [channels[i] for i in tables.sort_order(values, channels, descending=True)] == [2, 4, 3, 5, 0, 1]
    # Text sorts as text, flags as 0/1; positions are returned (here channel = position).
    assert tables.sort_order(["b", "a", None], [0, 1, 2]) == [1, 0, 2]
    assert tables.sort_order([True, False, True], [0, 1, 2], descending=True) == [0, 2, 1]


def test_js_payload_round_trips_with_nan_as_null_and_exact_floats():
    frame = pd.DataFrame({"channel": [0, 1], "x": [0.1 + 0.2, np.nan], "s": ["</script>", "ok"], "b": [True, False]})
    text = tables.js_payload("layer", 3, tables.records(frame))
    assert "</script>" not in text
    kind, key, data = _payload(text)
    assert (kind, key) == ("layer", 3)
    assert data == {"columns": ["channel", "x", "s", "b"], "rows": [[0, 0.1 + 0.2, "</script>", True], [1, None, "ok", False]]}


def test_example_lists_name_classes_in_rank_order():
    examples = pd.DataFrame({"channel": [1, 1, 0], "rank": [2, 1, 1], "label": [0, 1, 1], "activation": [3.0, 4.0, 5.0]})
    assert tables.example_lists(examples, ["cat", "dog"]) == {0: [["dog", 5.0]], 1: [["dog", 4.0], ["cat", 3.0]]}


def test_atlas_cells_need_a_full_grid_and_keep_both_networks_columns():
    cells = pd.DataFrame({"row": [1, 0, 0, 1], "col": [1, 0, 1, 0], "count_base": [1, 2, 3, 4], "count_finetuned": [4, 3, 2, 1],
                          "top_classes_base": ["a"] * 4, "moved_distance": [0.1] * 4})
    data = tables.atlas_cells(cells, ["base", "finetuned"])
    assert data["n"] == 2 and data["columns"] == ["row", "col", "count_base", "top_classes_base", "count_finetuned", "moved_distance"]
    assert [r[:3] for r in data["rows"]] == [[0, 0, 2], [0, 1, 3], [1, 0, 4], [1, 1, 1]]
    with pytest.raises(ValueError, match="3 rows for an 2 x 2 grid"):
        tables.grid_size(cells.iloc[:3])


def test_thumbnail_is_a_small_jpeg(tmp_path):
    Image.new("RGB", (128, 96), (200, 10, 10)).save(tmp_path / "r.png")
    assert figures.thumbnail(tmp_path / "r.png", tmp_path / "t/r.jpg", 64, 85) == (64, 48)
    with Image.open(tmp_path / "t/r.jpg") as image:
        assert image.format == "JPEG" and image.size == (64, 48)
    # Never enlarged.
    assert figures.thumbnail(tmp_path / "r.png", tmp_path / "big.jpg", 512, 85) == (128, 96)


def test_site_writer_links_or_copies_and_names_a_missing_file(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"png bytes")
    linked = SiteWriter(tmp_path / "site", "link")
    linked.place(source, "img/a.png")
    assert os.path.samefile(source, tmp_path / "site/img/a.png") and linked.linked == 1
    copied = SiteWriter(tmp_path / "copy", "copy")
    copied.place(source, "img/a.png")
    assert not os.path.samefile(source, tmp_path / "copy/img/a.png") and copied.copied == 1
    assert (tmp_path / "copy/img/a.png").read_bytes() == b"png bytes"
    # The link counts in full toward the site's size (a host copies it) but adds no disk space.
    assert site_size(tmp_path / "site") == {"files": 1, "bytes": 9, "own_bytes": 0}
    assert site_size(tmp_path / "copy")["own_bytes"] == 9
    with pytest.raises(FileNotFoundError, match="missing.png"):
        linked.place(tmp_path / "missing.png", "img/b.png")
    with pytest.raises(ValueError, match="explorer.images"):
        SiteWriter(tmp_path, "symlink")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    inputs = simulate.simulate_run(root, {"layer3.1": 7, "layer4.1": 5}, seeds=(0, 1, 2))
    info = stages.build_site(root / "site", **inputs, settings={"page_size": 10})
    return root / "site", inputs, info


def test_build_site_writes_every_channels_files_and_data(built):
    site, inputs, info = built
    assert (site / "index.html").is_file() and (site / "assets/app.js").is_file()
    _, _, index = _payload((site / "data/index.js").read_text())
    assert [entry["name"] for entry in index["layers"]] == inputs["layers"]
    assert index["page_size"] == 10 and index["nets"] == ["base", "finetuned"]
    compare = pd.read_csv(inputs["compare_channels"])
    for i, layer in enumerate(inputs["layers"]):
        _, _, data = _payload((site / f"data/layer-{i}.js").read_text())
        expected = compare[compare.layer == layer]
        assert [r[0] for r in data["rows"]] == list(expected.channel)
        effect = [r[data["columns"].index("effect_size")] for r in data["rows"]]
        assert [None if pd.isna(v) else v for v in expected.effect_size] == effect
        for net in inputs["nets"]:
            renders = pd.read_csv(inputs["render_tables"][(net, layer)])
            for row in renders.itertuples(index=False):
                page = site / f"img/renders/{net}/{i}/{row.file}"
                assert page.read_bytes() == (Path(inputs["render_tables"][(net, layer)]).parent / row.file).read_bytes()
            for channel in expected.channel:
                assert (site / f"img/thumbs/{net}/{i}/c{channel:04d}.jpg").is_file()
                assert (site / f"img/examples/{net}/{i}/c{channel:04d}.png").is_file()
    assert info["channels_per_network"] == 12 and info["linked"] > 0 and info["copied"] == 0
    assert json.loads((site / "site.json").read_text())["bytes"] == info["bytes"]


def test_every_image_the_data_names_is_in_the_site(built):
    site, _, _ = built
    _, _, index = _payload((site / "data/index.js").read_text())
    assert [a["net"] for a in index["atlases"]] == ["compare", "base", "finetuned"]
    for atlas in index["atlases"]:
        _, _, data = _payload((site / f"data/atlas-{atlas['index']}.js").read_text())
        assert set(data["images"]) == set(atlas["shown"])
        assert all((site / rel).is_file() for rel in data["images"].values())
        assert len(data["rows"]) == data["n"] ** 2
        wanted = ["count_base", "top_classes_finetuned"] if atlas["net"] == "compare" else ["count", "top_classes"]
        assert set(wanted) <= set(data["columns"]), data["columns"]
    _, _, top = _payload((site / "data/topmaps.js").read_text())
    files = [p["file"] for net in top["nets"].values() for c in net["classes"] for m in c["maps"] for p in m["renders"]]
    files += [f["file"] for net in top["nets"].values() for f in net["figures"]]
    assert files and all((site / f).is_file() for f in files)
    # Maps of a rendered layer link to their channel view.
    assert top["layer_index"] == 1 and all(m["channel_view"] for c in top["nets"]["base"]["classes"] for m in c["maps"])


def test_bad_settings_name_the_key(tmp_path, built):
    _, inputs, _ = built
    with pytest.raises(ValueError, match="explorer.page_size"):
        stages.build_site(tmp_path / "x", **inputs, settings={"page_size": 0})
