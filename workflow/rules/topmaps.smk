# Per-class top feature maps (FeatureMapVisualizer's five questions), for both networks.
# Tables and figures under topmaps/{net}/; the task head comes from attribution.smk.

_TOP = config["topmaps"]
_DATA = config["data"]



rule topmaps_scan:
    """Mean activation of every map of the layer on every split; each class's top maps (N1, N2, shared removed)."""
    input:
        model=f"{R}/models/{{net}}.pt",
        data=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
        classes=f"{R}/data/classes.txt",
    output:
        activations=f"{R}/topmaps/{{net}}/activations.npz",
        image_maps=f"{R}/topmaps/{{net}}/image_maps.csv",
        class_maps=f"{R}/topmaps/{{net}}/class_maps.csv",
        top_maps=f"{R}/topmaps/{{net}}/top_maps.csv",
    params:
        # Only the selection's settings: figure settings do not rerun the scan.
        topmaps={k: _TOP[k] for k in ("layer", "split", "n_per_image", "n_per_class")},
        splits=SPLITS,
        image_size=_DATA["image_size"],
        crop_fraction=_DATA["eval_crop"],
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("topmaps_scan", "{net}"),
    benchmark:
        bench_file("topmaps_scan", "{net}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/topmaps_scan.py"


rule topmaps_render:
    """The first top maps of each shown class, rendered by the seed's upscaling method and by the render engine."""
    input:
        model=f"{R}/models/{{net}}.pt",
        top_maps=f"{R}/topmaps/{{net}}/top_maps.csv",
        classes=f"{R}/data/classes.txt",
        images=f"{R}/data/train.csv",
    output:
        table=f"{R}/topmaps/{{net}}/renders.csv",
        images=directory(f"{R}/topmaps/{{net}}/renders"),
    params:
        # What selects and renders the maps: figure settings do not rerun the renders.
        topmaps={k: _TOP[k] for k in ("layer", "classes", "max_classes", "render_maps", "upscale")},
        render=RENDER,
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("topmaps_render", "{net}"),
    benchmark:
        bench_file("topmaps_render", "{net}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/topmaps_render.py"


rule topmaps_summary:
    """Questions 3-5 (one image's maps, one map on many images, class sums as a detector) and every top-map figure."""
    input:
        model=f"{R}/models/{{net}}.pt",
        val=f"{R}/data/val.csv",
        test=f"{R}/data/test.csv",
        classes=f"{R}/data/classes.txt",
        activations=f"{R}/topmaps/{{net}}/activations.npz",
        class_maps=f"{R}/topmaps/{{net}}/class_maps.csv",
        top_maps=f"{R}/topmaps/{{net}}/top_maps.csv",
        predictions=f"{R}/attribution/{{net}}/predictions.csv",
        scores=f"{R}/attribution/{{net}}/scores.npz",
        renders=f"{R}/topmaps/{{net}}/renders.csv",
        render_images=f"{R}/topmaps/{{net}}/renders",
    output:
        sums=f"{R}/topmaps/{{net}}/class_sums.csv",
        detector=f"{R}/topmaps/{{net}}/detector.csv",
        one_image=f"{R}/topmaps/{{net}}/one_image.csv",
        map_images=f"{R}/topmaps/{{net}}/map_images.csv",
        lists=net_figure("topmaps", "lists"),
        renders_figure=net_figure("topmaps", "renders"),
        one_image_figure=net_figure("topmaps", "one_image"),
        map_images_figure=net_figure("topmaps", "map_images"),
        sums_figure=net_figure("topmaps", "class_sums"),
        detector_figure=net_figure("topmaps", "detector"),
    params:
        topmaps=_TOP,
        image_size=_DATA["image_size"],
        crop_fraction=_DATA["eval_crop"],
        seed=config["seed"],
        device="cpu",  # a forward pass of a few images: cheap where Snakemake runs
    localrule: True
    log:
        log_file("topmaps_summary", "{net}"),
    benchmark:
        bench_file("topmaps_summary", "{net}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/topmaps_summary.py"


rule topmaps_figures:
    """The paper's top-map figures: both networks' class lists, and their class-sum detectors, side by side."""
    input:
        topmaps=expand(f"{R}/topmaps/{{net}}/lists.png", net=NETS),
        topmaps_separation=expand(f"{R}/topmaps/{{net}}/{{name}}.png", name=["class_sums", "detector"], net=NETS),
    output:
        topmaps=report_figure("topmaps", "Top feature maps", "topmaps"),
        topmaps_separation=report_figure("topmaps_separation", "Top feature maps", "topmaps"),
    params:
        titles={
            "topmaps": [f"{net} network" for net in NETS],
            "topmaps_separation": [f"{net} network: {what}" for what in ("class sums", "detector") for net in NETS],
        },
        suptitles={
            "topmaps": f"Class top feature maps of {_TOP['layer']}",
            "topmaps_separation": f"Summed top-map activation of {_TOP['layer']} as a class detector",
        },
        # The lists are wide: one network per row.
        columns={"topmaps": 1, "topmaps_separation": 2},
    localrule: True
    log:
        log_file("topmaps_figures"),
    benchmark:
        bench_file("topmaps_figures")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_panels.py"


# Every network, the variants included; the paper's figures show the study's pair.
register_stage(
    "topmaps",
    expand(f"{R}/topmaps/{{net}}/{{name}}", net=ALL_NETS, name=["top_maps.csv", "detector.csv", "lists.png", "lists.pdf"]),
)


document_outputs(
    "topmaps",
    """
figures/topmaps.{png,pdf}                the paper's top maps: topmaps/{net}/lists.png of both networks side by side
figures/topmaps_separation.{png,pdf}     both networks' class_sums.png (upper row) and detector.png (lower row)
topmaps/{net}/activations.npz            {split}_acts (images x maps, spatial means of topmaps.layer), {split}_labels
topmaps/{net}/image_maps.csv             topmaps.split images: path, label, rank, map, activation (each image's top N1)
topmaps/{net}/class_maps.csv             label, class, rank, map, count, frequency, mean_activation, shared, shared_with
                                         (each class's N2 list before removal; shared_with: labels of the other lists)
topmaps/{net}/top_maps.csv               label, class, rank, map, count, frequency, mean_activation (kept: unique to the class)
topmaps/{net}/renders.csv, renders/      shown classes' first topmaps.render_maps maps: label, class, rank, map, method
                                         (upscale or engine), file, size, objective, seconds; PNGs m{map:04d}_{method}.png
topmaps/{net}/class_sums.csv             split (val, test), index, path, label, maps_of, sum (summed top-map activation)
topmaps/{net}/detector.csv               per class: n_maps, threshold, val_f1, test_{auc,precision,recall} of the summed
                                         top maps; head_{auc,precision,recall} of the network's classifier
topmaps/{net}/one_image.csv              test image topmaps.image: rank, map, activation, top_map_of
topmaps/{net}/map_images.csv             group (same, other), class, map, index, path, label, activation
topmaps/{net}/lists.{png,pdf}            listed and kept maps per class; ranked lists of the shown classes
topmaps/{net}/renders.{png,pdf}          upscaling render beside engine render of the same maps
topmaps/{net}/one_image.{png,pdf}        one test image's top maps overlaid, by activation; class top maps framed
topmaps/{net}/map_images.{png,pdf}       one class top map on images of its class and of other classes
topmaps/{net}/class_sums.{png,pdf}       per shown class: summed top-map activation of every test image, by true class
topmaps/{net}/detector.{png,pdf}         test AUC, precision, recall per class: top-map detector vs the network
""",
)
