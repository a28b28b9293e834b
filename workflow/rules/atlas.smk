# Activation atlases of each network, and the comparison atlas of the two (src/vischange/atlas/).
# collect (per network; GPU) -> layout (per layer: both networks and their shared layout)
# -> icons (per network, in shards; GPU) -> images (per layer).
# Paths: results/{experiment}/atlas/{net}/{layer}/ and atlas/compare/{layer}/.
# Names and path helpers: atlas_common.smk.


rule atlas_collect:
    """One activation vector per image (random position) and its attribution to every class."""
    input:
        model=f"{R}/models/{{net}}.pt",
        manifest=f"{R}/data/{ATLAS['split']}.csv",
    output:
        npz=f"{A}/{{net}}/{{layer}}/activations.npz",
        samples=f"{A}/{{net}}/{{layer}}/samples.csv",
    wildcard_constraints:
        layer=_ATLAS_LAYER,
    params:
        # Only what collection uses, so that changing the layout does not recollect.
        atlas={k: ATLAS[k] for k in ("max_images", "batch_size", "moment_positions")},
        data=config["data"],
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    priority: PRIORITY["atlas"]
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("atlas_collect", "{net}/{layer}"),
    benchmark:
        bench_file("atlas_collect", "{net}/{layer}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/atlas_collect.py"


rule atlas_layout:
    """UMAP layouts and grids of a layer: each network's atlas, class atlases, class pairs, and the
    comparison atlas (one layout of both networks' activations); the icons each network renders."""
    input:
        npz=[f"{A}/{net}/{{layer}}/activations.npz" for net in ALL_NETS],
        classes=f"{R}/data/classes.txt",
    output:
        tables=atlas_tables("{layer}"),
        directions=[f"{A}/{net}/{{layer}}/directions.npz" for net in ALL_NETS],
    wildcard_constraints:
        layer=_ATLAS_LAYER,
    params:
        nets=ALL_NETS,
        # Only what the layouts and the whitening use: label or icon-render settings do not
        # rerun the layouts (nor, through directions.npz, the icons).
        atlas={
            **{k: ATLAS[k] for k in ("layout", "grid_size", "class_grid_size", "classes", "class_pairs", "min_count", "top_classes",
                                     "compare")},
            "icons": {k: v for k, v in ATLAS["icons"].items() if k.startswith("whiten")},
        },
        seed=config["seed"],
        experiment=EXP,
    threads: 1
    priority: PRIORITY["atlas"]
    resources:
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("atlas_layout", "{layer}"),
    benchmark:
        bench_file("atlas_layout", "{layer}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/atlas_layout.py"


rule atlas_icons:
    """Render one shard of a network's icons (its own atlases and its half of the comparison atlas)."""
    input:
        model=f"{R}/models/{{net}}.pt",
        manifest=f"{R}/data/train.csv",
        directions=f"{A}/{{net}}/{{layer}}/directions.npz",
    output:
        table=f"{A}/{{net}}/{{layer}}/icons/{{shard}}.csv",
        icons=directory(f"{A}/{{net}}/{{layer}}/icons/{{shard}}"),
    wildcard_constraints:
        layer=_ATLAS_LAYER,
        shard=r"\d+",
    params:
        icons=ATLAS["icons"],
        shards=len(ATLAS_SHARDS),
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    priority: PRIORITY["atlas"]
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(120),
    log:
        log_file("atlas_icons", "{net}/{layer}/{shard}"),
    benchmark:
        bench_file("atlas_icons", "{net}/{layer}/{shard}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/atlas_icons.py"


rule atlas_images:
    """Icon grids, labelled atlases, density views, and the comparison atlas with its movement maps."""
    input:
        tables=atlas_tables("{layer}"),
        # every network's shards, network by network
        icons=[f"{A}/{net}/{{layer}}/icons/{shard}.csv" for net in ALL_NETS for shard in ATLAS_SHARDS],
    output:
        atlas_images("{layer}"),
    wildcard_constraints:
        layer=_ATLAS_LAYER,
    params:
        nets=ALL_NETS,
        shards=len(ATLAS_SHARDS),
        atlas=ATLAS,
        experiment=EXP,
    localrule: True
    log:
        log_file("atlas_images", "{layer}"),
    benchmark:
        bench_file("atlas_images", "{layer}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/atlas_images.py"


if ATLAS_FIGURES:

    rule atlas_figures:
        """The paper's atlas figures of the last atlas layer: each network's atlas, the comparison atlas, class atlases."""
        input:
            images=atlas_images(ATLAS_PAPER_LAYER),
            cells=f"{A}/compare/{ATLAS_PAPER_LAYER}/cells.csv",
        output:
            **{
                name.removeprefix("atlas_"): report_figure(name, "Activation atlases", "atlas")
                for name in ATLAS_FIGURES
            },
        params:
            atlas=ATLAS,
            layer=ATLAS_PAPER_LAYER,
            experiment=EXP,
        localrule: True
        log:
            log_file("atlas_figures"),
        benchmark:
            bench_file("atlas_figures")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/atlas_figures.py"


register_stage("atlas", atlas_outputs())


document_outputs(
    "atlas",
    """
figures/atlas_{base,finetuned}.{png,pdf} the paper's atlases: each network's atlas of the last atlas layer, labelled
figures/atlas_compare.{png,pdf}          the paper's comparison atlas of that layer
figures/atlas_classes.{png,pdf}          the class atlases and two-class comparisons of that layer as panels
                                         (only when atlas.classes or atlas.class_pairs names some)
atlas/{net}/{layer}/samples.csv          sample, image, label, y, x (the position drawn), top_class, top_attribution
atlas/{net}/{layer}/activations.npz      acts (N, C), attributions (N, K), positions, labels, images, class_names,
                                         moment_acts (N x atlas.moment_positions, C: the whitening's samples)
atlas/{net}/{layer}/layout.csv           sample, x, y (normalized layout), row, col, label, top_class
atlas/{net}/{layer}/cells.csv            row, col, count, filled, top_class, top_attribution, top_classes,
                                         label, label_share, icon (one row per grid cell)
atlas/{net}/{layer}/layout.json          how the layout was built (method, UMAP settings, samples, cells)
atlas/{net}/{layer}/icons.png            the bare icon grid (one icon per filled cell, white elsewhere)
atlas/{net}/{layer}/atlas.{png,pdf}      the icon grid labelled with each cell's top class
atlas/{net}/{layer}/density.{png,pdf}    samples in the layout by top class; samples per cell
atlas/{net}/{layer}/class/{class}/...    class atlas: layout.csv, cells.csv, layout.json, icons.png, atlas.{png,pdf}
atlas/{net}/{layer}/pair/{a}_vs_{b}/...  two-class comparison (x = attribution to a minus b): same files,
                                         cells.csv adds attribution_difference
atlas/{net}/{layer}/directions.npz       every icon this network renders (atlas, row, col, seed, whitened direction)
atlas/{net}/{layer}/whitening.json       how the icons' whitening was estimated: method, samples_from, samples,
                                         dimensions, samples_per_dimension, shrinkage, condition_number
                                         (of the shrunk estimate), sample_condition_number (unshrunk; null when singular)
atlas/{net}/{layer}/icons/{k}.csv        icons rendered by shard k: atlas, row, col, file, objective
atlas/{net}/{layer}/icons/{k}/*.png      the icons of shard k
atlas/compare/{layer}/layout.csv         sample, net, x, y, row, col, label (one shared layout of both networks)
atlas/compare/{layer}/cells.csv          row, col, {count,filled,top_class,top_attribution,top_classes,label,
                                         label_share,icon}_{base,finetuned}, moved_cosine, moved_distance, same_cell,
                                         null_distance, p_moved, q_moved, moved_beyond_null (against the null sample)
atlas/compare/{layer}/layout.json        how the shared layout was built (atlas.compare.fit), mean movement and null,
                                         cells tested and moved beyond the null
atlas/compare/{layer}/icons_{net}.png    each network's icon grid on the shared layout
atlas/compare/{layer}/atlas.{png,pdf}    both networks' icons side by side
atlas/compare/{layer}/movement.{png,pdf} samples per cell of each network, and how far activations moved
""",
)
