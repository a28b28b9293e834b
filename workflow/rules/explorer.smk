# The explorer (src/vischange/explorer/): a static site to browse the run in a browser, opened
# from the file system or any static host. Channel table and channel views, atlas viewer, top
# maps and attribution. It only reads other stages' files. Paths: results/{experiment}/explorer/.
from vischange.names import class_atlas_id, pair_atlas_id

_EXPLORER = config["explorer"]
_RENDER_KEYS = [list(k) for k in RENDER_TABLES]


# Every atlas as (key [net, layer, atlas_id], title, cells.csv): each network's main, class and
# class-pair atlases, then the comparison atlas; and each icon grid as (key [net, layer,
# atlas_id, shown net], PNG). Lists, not functions: a rule file holding both trips the lint.
_EXPLORER_ATLASES = [
    ([net, layer, atlas_id], title, f"{L.atlas_compare(layer) if net == 'compare' else L.atlas(net, layer, atlas_id)}/cells.csv")
    for layer in ATLAS_LAYERS
    for net in [*NETS, "compare"]
    for atlas_id, title in (
        [("compare", f"comparison: {layer}")]
        if net == "compare"
        else [("atlas", f"{net}: {layer}")]
        + [(class_atlas_id(c), f"{net}: {layer}, class {c}") for c in ATLAS["classes"][net]]
        + [(pair_atlas_id(a, b), f"{net}: {layer}, {a} against {b}") for a, b in ATLAS["class_pairs"][net]]
    )
]
_EXPLORER_ICONS = [
    ([net, layer, atlas_id, shown], f"{L.atlas_compare(layer)}/icons_{shown}.png")
    if net == "compare"
    else ([net, layer, atlas_id, net], f"{L.atlas(net, layer, atlas_id)}/icons.png")
    for (net, layer, atlas_id), _, _ in _EXPLORER_ATLASES
    for shown in (NETS if net == "compare" else [net])
]
# The top-map tables and render folder per network, as (key [net, name], path) ...
_EXPLORER_TOPMAPS = [
    ([net, name], f"{L.net_stage('topmaps', net)}/{file}")
    for net in NETS
    for name, file in (("top_maps", "top_maps.csv"), ("detector", "detector.csv"), ("renders", "renders.csv"),
                       ("render_dir", "renders"))
]
# ... and the per-network figures the top-maps view shows (top maps, attribution, domain overlays).
_EXPLORER_FIGURES = [
    ([net, name], f"{L.net_stage(stage, net)}/{file}.png")
    for net in NETS
    for stage, name, file in (
        [("topmaps", n, n) for n in ("lists", "one_image", "map_images", "class_sums", "detector")]
        + [("attribution", n, n) for n in ("saliency_gradcam", "feature_maps", "embedding", "confusion", "filters")]
        + ([("domain", "domain_overlays", "overlays")] if DOMAIN_IN_ALL else [])
    )
]


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
        log_file("explorer"),
    benchmark:
        bench_file("explorer")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/explorer.py"


register_stage("explorer", [L.explorer()])


document_outputs(
    "explorer",
    """
explorer                                 a folder, a static site (open explorer/index.html; no server): channel table, channel views,
                                         atlas viewer, top maps and attribution. index.html, assets/{app.js,style.css},
                                         data/*.js (the tables as scripts), img/ (renders, dataset examples, atlases and
                                         figures of the stages above, hard-linked or copied, explorer.images; thumbnails),
                                         site.json (files, bytes, bytes_per_1000_channels)
""",
)
