# Atlas patches (src/vischange/patches.py): patches rendered from the cells of a two-class
# comparison that favour the target class, pasted onto test images of the other class,
# against random-noise and random-image-crop patches.
# render (GPU) -> experiment (GPU: the network over every image, patch, size, corner) -> summary.
# Paths: results/{experiment}/patches/{net}/{source}__{target}/ (class names as slugs).
# Names and path helpers: patches_common.smk.


rule patches_render:
    """The atlas patches of one direction: the top-k cells toward the target, rendered like their icons."""
    input:
        model=f"{R}/models/{{net}}.pt",
        manifest=f"{R}/data/train.csv",
        directions=f"{A}/{{net}}/{PATCH_LAYER}/directions.npz",
        cells=lambda w: f"{L.atlas_pair(w.net, PATCH_LAYER, *patch_job(w)[:2])}/cells.csv",
    output:
        table=f"{patch_dir()}/candidates.csv",
        patches=directory(f"{patch_dir()}/candidates"),
    wildcard_constraints:
        source=_PATCH_SLUG,
        target=_PATCH_SLUG,
    params:
        job=patch_job,
        layer=PATCH_LAYER,
        patches=PATCHES,
        icons=ATLAS["icons"],
        image_size=config["data"]["image_size"],
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("patches_render", "{net}/{source}__{target}"),
    benchmark:
        bench_file("patches_render", "{net}/{source}__{target}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/patches_render.py"


rule patches_experiment:
    """Every patch (atlas and baselines) at every size and corner on every source-class test image."""
    input:
        model=f"{R}/models/{{net}}.pt",
        candidates=f"{patch_dir()}/candidates.csv",
        test=lambda w: patch_data(w.net)["test"],
        train=lambda w: patch_data(w.net)["train"],
        classes=lambda w: patch_data(w.net)["classes"],
    output:
        flips=f"{patch_dir()}/flips.csv",
        patches=f"{patch_dir()}/patches.csv",
    wildcard_constraints:
        source=_PATCH_SLUG,
        target=_PATCH_SLUG,
    params:
        job=patch_job,
        patches=PATCHES,
        data=config["data"],
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("patches_experiment", "{net}/{source}__{target}"),
    benchmark:
        bench_file("patches_experiment", "{net}/{source}__{target}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/patches_experiment.py"


rule patches_summary:
    """Flip rates (per patch, size, corner; best corner per image), the rate figure and the gallery."""
    input:
        flips=f"{patch_dir()}/flips.csv",
        candidates=f"{patch_dir()}/candidates.csv",
        test=lambda w: patch_data(w.net)["test"],
    output:
        summary=f"{patch_dir()}/summary.csv",
        json=f"{patch_dir()}/summary.json",
        rates=[f"{patch_dir()}/flip_rate.png", f"{patch_dir()}/flip_rate.pdf"],
        gallery=[f"{patch_dir()}/gallery.png", f"{patch_dir()}/gallery.pdf"],
    wildcard_constraints:
        source=_PATCH_SLUG,
        target=_PATCH_SLUG,
    params:
        job=patch_job,
        layer=PATCH_LAYER,
        data=config["data"],
        gallery=PATCHES["gallery"],
    localrule: True
    log:
        log_file("patches_summary", "{net}/{source}__{target}"),
    benchmark:
        bench_file("patches_summary", "{net}/{source}__{target}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/patches_summary.py"


if PATCH_JOBS:

    rule patches_overview:
        """Every tested network and direction in one table and one figure (the paper's patch figure)."""
        input:
            summaries=[f"{patch_dir(*key)}/summary.json" for key in PATCH_JOBS],
        output:
            table=f"{P}/overview.csv",
            margin=f"{P}/atlas_margin.csv",
            figure=report_figure("patches", "Atlas patches", "patches"),
        params:
            networks=NETS,
        localrule: True
        log:
            log_file("patches_overview"),
        benchmark:
            bench_file("patches_overview")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/patches_overview.py"


register_stage("patches", patch_outputs())


document_outputs(
    "patches",
    """
patches/{net}/{source}__{target}/candidates.csv  atlas patches: patch, row, col (cell of pair/{a}_vs_{b}),
                                         attribution_difference, score (difference toward the target), count, top_class,
                                         file, pixels (render side), objective
patches/{net}/{source}__{target}/candidates/*.png  the atlas patches as rendered (before resizing to each size)
patches/{net}/{source}__{target}/patches.csv  every patch pasted: kind (atlas, noise, image), patch, size, pixels, origin
patches/{net}/{source}__{target}/flips.csv    one row per (image, kind, patch, size, corner): top1_before,
                                         p_target_before, p_source_before, top1_after, p_target_after, p_source_after
patches/{net}/{source}__{target}/summary.csv  kind, patch, size, pixels, corner (four corners and best), images (source
                                         images classified correctly before), flip_target_rate, flip_other_rate,
                                         mean_delta_target, mean_p_target_after
patches/{net}/{source}__{target}/summary.json headline numbers per kind and size (best corner), image counts
patches/{net}/{source}__{target}/flip_rate.{png,pdf}  flip rates and change in p(target) vs patch size, with baselines
patches/{net}/{source}__{target}/gallery.{png,pdf}    the atlas patches and flipped examples, before and after
patches/overview.csv                     every tested (network, source, target) x kind x size: flip_target_rate (mean over
                                         patches or draws), flip_target_max (best one), flip_other_rate, mean_delta_target
patches/atlas_margin.csv                 per (network, source, target, size): atlas_best, baseline_best (best noise or
                                         image-crop draw), margin = atlas_best - baseline_best
figures/patches.{png,pdf}                flip rate to the target vs patch size, atlas patches and baselines, every direction
""",
)
