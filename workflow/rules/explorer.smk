# The explorer (src/vischange/explorer/): a static site to browse the run in a browser, opened
# from the file system or any static host. Channel table and channel views, atlas viewer, top
# maps and attribution. It only reads other stages' files. Paths: results/{experiment}/explorer/.
from vischange.names import class_atlas_id, pair_atlas_id

_EXPLORER = config["explorer"]
_RENDER_KEYS = [list(k) for k in RENDER_TABLES]


def _explorer_atlases():
    """[(key [net, layer, atlas_id], title, cells.csv)] of every atlas, and [(key [net, layer,
    atlas_id, shown net], icon grid PNG)]: each network's atlases and the comparison atlas."""
    atlases, icons = [], []
    for layer in ATLAS_LAYERS:
        for net in NETS:
            named = [("atlas", f"{net}: {layer}")]
            named += [(class_atlas_id(c), f"{net}: {layer}, class {c}") for c in ATLAS["classes"][net]]
            named += [(pair_atlas_id(a, b), f"{net}: {layer}, {a} against {b}") for a, b in ATLAS["class_pairs"][net]]
            for atlas_id, title in named:
                folder = L.atlas(net, layer, atlas_id)
                atlases.append(([net, layer, atlas_id], title, f"{folder}/cells.csv"))
                icons.append(([net, layer, atlas_id, net], f"{folder}/icons.png"))
        folder = L.atlas_compare(layer)
        atlases.append((["compare", layer, "compare"], f"comparison: {layer}", f"{folder}/cells.csv"))
        icons += [(["compare", layer, "compare", net], f"{folder}/icons_{net}.png") for net in NETS]
    return atlases, icons


def _explorer_net_files():
    """[(key [net, name], path)]: the top-map tables and render folder, and the per-network
    figures (top maps, attribution, domain overlays) the top-maps view shows."""
    files = []
    for net in NETS:
        top = L.net_stage("topmaps", net)
        files += [([net, "top_maps"], f"{top}/top_maps.csv"), ([net, "detector"], f"{top}/detector.csv"),
                  ([net, "renders"], f"{top}/renders.csv"), ([net, "render_dir"], f"{top}/renders")]
    figures = []
    for net in NETS:
        figures += [([net, name], f"{L.net_stage('topmaps', net)}/{name}.png")
                    for name in ("lists", "one_image", "map_images", "class_sums", "detector")]
        figures += [([net, name], f"{L.net_stage('attribution', net)}/{name}.png")
                    for name in ("saliency_gradcam", "feature_maps", "embedding", "confusion", "filters")]
        if DOMAIN_IN_ALL:
            figures.append(([net, "domain_overlays"], f"{R}/domain/{net}/overlays.png"))
    return files, figures


_EXPLORER_ATLASES, _EXPLORER_ICONS = _explorer_atlases()
_EXPLORER_TOPMAPS, _EXPLORER_FIGURES = _explorer_net_files()


rule explorer:
    """A static site to browse the run: every channel's renders and scores, the atlases, top maps and attribution."""
    input:
        compare_channels=f"{R}/compare/channels.csv",
        compare_layers=f"{R}/compare/layers.csv",
        activation_channels=f"{L.stage('change')}/channels.csv",
        quality=f"{R}/renders/quality.csv",
        classes=L.classes(),
        render_tables=list(RENDER_TABLES.values()),
        example_tables=[L.examples_table(net, layer) for net, layer in RENDER_TABLES],
        atlas_cells=[path for _, _, path in _EXPLORER_ATLASES],
        atlas_icons=[path for _, path in _EXPLORER_ICONS],
        topmap_files=[path for _, path in _EXPLORER_TOPMAPS],
        figure_files=[path for _, path in _EXPLORER_FIGURES],
    output:
        directory(L.explorer()),
    params:
        experiment=EXP,
        nets=NETS,
        layers=LAYERS,
        render_keys=_RENDER_KEYS,
        atlas_keys=[key for key, _, _ in _EXPLORER_ATLASES],
        atlas_titles=[title for _, title, _ in _EXPLORER_ATLASES],
        icon_keys=[key for key, _ in _EXPLORER_ICONS],
        topmap_keys=[key for key, _ in _EXPLORER_TOPMAPS],
        topmaps_layer=config["topmaps"]["layer"],
        figure_keys=[key for key, _ in _EXPLORER_FIGURES],
        settings=_EXPLORER,
    localrule: True
    resources:
        mem_mb=retry_mem_mb(4000),
        runtime=retry_runtime(60),
    log:
        f"{LOGS}/explorer/explorer.log",
    benchmark:
        f"{BENCH}/explorer/explorer.tsv"
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/explorer.py"


register_stage("explorer", [L.explorer()])
