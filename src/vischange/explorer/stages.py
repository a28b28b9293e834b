"""The explorer job (rule ``explorer``): a static site to browse one run in a browser.

Folder layout of the site (everything relative, nothing outside it)::

    index.html  assets/app.js  assets/style.css
    data/index.js                    layers, networks, seeds, atlases, summary tables
    data/layer-{i}.js                the channel table of layer i (one row per channel)
    data/examples-{i}.js             top dataset examples (class, activation) of layer i's channels
    data/atlas-{k}.js                the cells of atlas k
    data/topmaps.js                  top maps per class, their renders, detector tables, figures
    img/renders/{net}/{i}/c{channel:04d}_s{seed}.png    every render (linked or copied)
    img/thumbs/{net}/{i}/c{channel:04d}.jpg             thumbnail of the first seed's render
    img/examples/{net}/{i}/c{channel:04d}.png           dataset-example strips
    img/atlas/{k}/{net}.png          atlas k's icon grid as that network renders it
    img/topmaps/{net}/...            top-map renders;  img/figures/{net}/{name}.png  figures
    site.json                        what was built: counts and sizes

Data files are JavaScript (``VX.put(...)``) loaded by <script> tags on demand, one per
layer, atlas or view, because browsers refuse fetch() of local files; a page of the real
study loads only the layer it shows.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..paths import example_file_name, keyed, render_file_name
from ..runtime import write_json
from . import figures, tables
from .site import SiteWriter, site_size

log = logging.getLogger(__name__)

__all__ = ["explorer", "build_site", "DEFAULTS", "FIGURE_TITLES"]

DEFAULTS = {"page_size": 100, "thumbnail_size": 64, "thumbnail_quality": 85, "images": "link"}

# Per-network figures the top-maps view shows, in this order, with their titles.
FIGURE_TITLES = {
    "lists": "Top maps per class (kept and removed)",
    "one_image": "One test image: its top maps overlaid",
    "map_images": "A class top map on images of its class and of others",
    "class_sums": "Summed top-map activation by class",
    "detector": "Top-map detector against the classifier",
    "saliency_gradcam": "Saliency and Grad-CAM",
    "feature_maps": "Most active feature maps of one image",
    "embedding": "UMAP of penultimate features",
    "confusion": "Confusion matrix (test split)",
    "filters": "First-layer filters",
    "domain_overlays": "Domain shift: top-map overlays, source over target",
}


def _thumb_rel(net: str, i: int, channel: int) -> str:
    return f"img/thumbs/{net}/{i}/c{int(channel):04d}.jpg"


def build_site(
    out_dir: str | os.PathLike,
    *,
    experiment: str,
    nets: Sequence[str],
    layers: Sequence[str],
    compare_channels: str | os.PathLike,
    compare_layers: str | os.PathLike | None,
    activation_channels: str | os.PathLike | None,
    quality: str | os.PathLike | None,
    classes: str | os.PathLike,
    render_tables: Mapping[tuple[str, str], str],
    example_tables: Mapping[tuple[str, str], str],
    atlas_cells: Mapping[tuple[str, str, str], str] | None = None,
    atlas_icons: Mapping[tuple[str, str, str, str], str] | None = None,
    atlas_titles: Mapping[tuple[str, str, str], str] | None = None,
    topmaps: Mapping[tuple[str, str], str] | None = None,
    topmaps_layer: str | None = None,
    net_figures: Mapping[tuple[str, str], str] | None = None,
    settings: Mapping | None = None,
) -> dict:
    """Write the site into `out_dir` (created; files in it are replaced).

    Keys, not paths, say what a file is: `render_tables` and `example_tables` are
    {(net, layer): renders.csv / examples.csv} (the render PNGs and example strips are
    found beside them by their file names); `atlas_cells` {(net, layer, atlas_id):
    cells.csv} with net ``compare`` for a comparison atlas, `atlas_icons` {(net, layer,
    atlas_id, shown_net): icon grid PNG}; `topmaps` {(net, name): path} with names
    ``top_maps``, ``detector``, ``renders`` (renders.csv) and ``render_dir``;
    `net_figures` {(net, figure name): PNG}. `settings`: the ``explorer`` config section
    (:data:`DEFAULTS` fill what is missing). Returns site.json's content.
    """
    cfg = {**DEFAULTS, **(settings or {})}
    for key in ("page_size", "thumbnail_size", "thumbnail_quality"):
        if int(cfg[key]) < 1:
            raise ValueError(f"explorer.{key} must be at least 1, not {cfg[key]!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site = SiteWriter(out, cfg["images"])
    site.static()
    class_names = Path(classes).read_text().splitlines()
    compare = pd.read_csv(compare_channels)
    activation = pd.read_csv(activation_channels) if activation_channels else None

    layer_entries, rendered = [], {}
    for i, layer in enumerate(layers):
        renders = {(net, layer): pd.read_csv(render_tables[(net, layer)]) for net in nets}
        table = tables.channel_table(compare, activation, renders, layer, nets)
        seeds = sorted(int(s) for s in renders[(nets[0], layer)].seed.unique())
        examples = {}
        for net in nets:
            folder = Path(render_tables[(net, layer)]).parent
            frame = renders[(net, layer)].sort_values(["channel", "seed"])
            for row in tqdm(frame.itertuples(index=False), total=len(frame), desc=f"explorer {net} {layer}",
                            mininterval=5, leave=False):
                name = render_file_name(row.channel, row.seed)
                if row.file != name:
                    raise ValueError(f"{render_tables[(net, layer)]}: render file {row.file!r}, expected {name!r}")
                site.place(folder / row.file, f"img/renders/{net}/{i}/{name}")
                if row.seed == seeds[0]:
                    figures.thumbnail(folder / row.file, out / _thumb_rel(net, i, row.channel),
                                      int(cfg["thumbnail_size"]), int(cfg["thumbnail_quality"]))
            ex_table = Path(example_tables[(net, layer)])
            ex = pd.read_csv(ex_table)
            for channel in table.channel:
                site.place(ex_table.parent / example_file_name(channel), f"img/examples/{net}/{i}/c{int(channel):04d}.png")
            examples[net] = {str(c): v for c, v in tables.example_lists(ex, class_names).items()}
        site.write_text(f"data/layer-{i}.js", tables.js_payload("layer", i, tables.records(table)))
        site.write_text(f"data/examples-{i}.js", tables.js_payload("examples", i, examples))
        rendered[layer] = {int(c) for c in table.channel}
        counts = table.status.value_counts().to_dict()
        layer_entries.append({"index": i, "name": layer, "channels": len(table), "seeds": seeds,
                              "status": {str(k): int(v) for k, v in counts.items()}})

    atlases = []
    for k, key in enumerate(sorted((atlas_cells or {}), key=lambda t: (t[1], t[0] != "compare", t[0], t[2]))):
        net, layer, atlas_id = key
        cells = pd.read_csv(atlas_cells[key])
        shown = [n for n in nets if (net, layer, atlas_id, n) in (atlas_icons or {})]
        if not shown:
            raise ValueError(f"atlas {key} has no icon grid among the inputs")
        data = tables.atlas_cells(cells, shown if net == "compare" else None)
        images = {n: site.place(atlas_icons[(net, layer, atlas_id, n)], f"img/atlas/{k}/{n}.png") for n in shown}
        site.write_text(f"data/atlas-{k}.js", tables.js_payload("atlas", k, {**data, "images": images}))
        title = (atlas_titles or {}).get(key) or f"{net} {layer} {atlas_id}"
        atlases.append({"index": k, "net": net, "layer": layer, "atlas_id": atlas_id, "title": title, "n": data["n"],
                        "shown": shown})

    has_topmaps = bool(topmaps)
    if has_topmaps:
        site.write_text("data/topmaps.js", tables.js_payload("topmaps", 0, _topmaps_data(
            site, nets, topmaps, topmaps_layer, net_figures or {}, layers, rendered)))

    summary = {
        "layers": _summary_layers(compare_layers) if compare_layers else None,
        "quality": tables.records(pd.read_csv(quality)) if quality else None,
    }
    index = {
        "experiment": experiment,
        "nets": list(nets),
        "layers": layer_entries,
        "columns": tables.TABLE_COLUMNS,
        "page_size": int(cfg["page_size"]),
        "atlases": atlases,
        "topmaps": has_topmaps,
        "summary": summary,
    }
    site.write_text("data/index.js", tables.js_payload("index", 0, index))
    size = site_size(out)
    channels = sum(e["channels"] for e in layer_entries)
    info = {
        "experiment": experiment,
        "channels_per_network": channels,
        "networks": len(nets),
        "atlases": len(atlases),
        "images": cfg["images"],
        "linked": site.linked,
        "copied": site.copied,
        **size,
        # Per 1,000 channels of one network, every network's files included.
        "bytes_per_1000_channels": round(size["bytes"] * 1000 / channels) if channels else None,
    }
    write_json(out / "site.json", info)
    log.info("explorer: %d channels per network, %d atlases, %d files, %.1f MB (%d linked, %d copied)",
             channels, len(atlases), size["files"], size["bytes"] / 1e6, site.linked, site.copied)
    return info


# The overview's per-layer columns of compare/layers.csv (those present, in this order): the
# calibrated test with the null experiment's false positives beside it, then the descriptive ones.
LAYER_SUMMARY = ["layer", "fine_tuned", "n_channels", "n_tested", "n_significant", "changed_share", "changed_share_low",
                 "changed_share_high", "pi0", "n_identical", "n_died", "n_born", "null_n_tested", "null_n_significant",
                 "null_false_positive_share", "null_changed_share", "n_gray", "median_cosine", "noise_floor"]


def _summary_layers(path) -> dict:
    frame = pd.read_csv(path)
    return tables.records(frame, [c for c in LAYER_SUMMARY if c in frame])


def _topmaps_data(site: SiteWriter, nets, topmaps, layer, net_figures, layers, rendered) -> dict:
    """Per network: each class's kept top maps (with a render where topmaps_render drew
    one, and a link to the channel view where the map is a rendered channel), the
    detector table, and the network's figures."""
    # A map of the top-maps layer that the render stage drew links to its channel view.
    shown = rendered.get(layer, set())
    out = {"layer": layer, "nets": {}, "layer_index": list(layers).index(layer) if layer in layers else None}
    for net in nets:
        top = pd.read_csv(topmaps[(net, "top_maps")]).sort_values(["label", "rank"])
        renders = pd.read_csv(topmaps[(net, "renders")]) if (net, "renders") in topmaps else pd.DataFrame()
        render_dir = Path(topmaps[(net, "render_dir")]) if (net, "render_dir") in topmaps else None
        pictures: dict[tuple[int, int], list] = {}
        for row in renders.itertuples(index=False):
            rel = site.place(render_dir / row.file, f"img/topmaps/{net}/{row.file}")
            pictures.setdefault((int(row.label), int(row.map)), []).append({"method": row.method, "file": rel})
        classes = []
        for (label, name), rows in top.groupby(["label", "class"], sort=True):
            maps = [{"rank": int(r.rank), "map": int(r.map), "count": int(r.count), "frequency": tables.plain(r.frequency),
                     "mean_activation": tables.plain(r.mean_activation), "renders": pictures.get((int(label), int(r.map)), []),
                     "channel_view": int(r.map) in shown}
                    for r in rows.itertuples(index=False)]
            classes.append({"label": int(label), "class": str(name), "maps": maps})
        detector = tables.records(pd.read_csv(topmaps[(net, "detector")])) if (net, "detector") in topmaps else None
        figs = [{"name": name, "title": FIGURE_TITLES.get(name, name),
                 "file": site.place(net_figures[(net, name)], f"img/figures/{net}/{name}.png")}
                for name in [*FIGURE_TITLES, *sorted({n for m, n in net_figures if m == net} - set(FIGURE_TITLES))]
                if (net, name) in net_figures]
        out["nets"][net] = {"classes": classes, "detector": detector, "figures": figs}
    return out


def explorer(
    out_dir: str | os.PathLike,
    *,
    experiment: str,
    nets: Sequence[str],
    layers: Sequence[str],
    compare_channels: str,
    compare_layers: str,
    activation_channels: str,
    quality: str,
    classes: str,
    render_keys: Sequence,
    render_tables: Sequence[str],
    example_tables: Sequence[str],
    atlas_keys: Sequence,
    atlas_cells: Sequence[str],
    atlas_titles: Sequence[str],
    icon_keys: Sequence,
    atlas_icons: Sequence[str],
    topmap_keys: Sequence,
    topmap_files: Sequence[str],
    topmaps_layer: str,
    figure_keys: Sequence,
    figure_files: Sequence[str],
    settings: Mapping,
) -> dict:
    """Rule ``explorer``: the rule passes keys as params and paths as input, in the same
    order (`vischange.paths.keyed` pairs them); see :func:`build_site` for their meaning."""
    return build_site(
        out_dir,
        experiment=experiment,
        nets=nets,
        layers=layers,
        compare_channels=compare_channels,
        compare_layers=compare_layers,
        activation_channels=activation_channels,
        quality=quality,
        classes=classes,
        render_tables=keyed(render_keys, render_tables),
        example_tables=keyed(render_keys, example_tables),
        atlas_cells=keyed(atlas_keys, atlas_cells),
        atlas_icons=keyed(icon_keys, atlas_icons),
        atlas_titles=dict(zip(keyed(atlas_keys, atlas_cells), atlas_titles)),
        topmaps=keyed(topmap_keys, topmap_files),
        topmaps_layer=topmaps_layer,
        net_figures=keyed(figure_keys, figure_files),
        settings=settings,
    )
