# Atlas patches (src/vischange/patches.py): patches rendered from the cells of a two-class
# comparison that favour the target class, pasted onto test images of the other class,
# against random-noise and random-image-crop patches.
# render (GPU) -> experiment (GPU: the network over every image, patch, size, corner) -> summary,
# each one job per network for all of its tested directions.
# Paths: results/{experiment}/patches/{net}/{source}__{target}/ (class names as slugs).
# Names and path helpers: patches_common.smk.


# One rule per network and step (outputs must be fixed patterns; a network's tested
# directions are known from the config), so each step is one job per network.
for _net in PATCH_NETS:
    _keys = patch_keys(_net)
    _jobs = [PATCH_JOBS[k] for k in _keys]

    rule:
        name:
            f"patches_render_{_net}"
        input:
            model=L.model(_net),
            manifest=f"{R}/data/train.csv",
            directions=f"{A}/{_net}/{PATCH_LAYER}/directions.npz",
            # One per direction (a pair's two directions share its atlas).
            cells=[f"{L.atlas_pair(_net, PATCH_LAYER, a, b)}/cells.csv" for a, b, _, _ in _jobs],
        output:
            tables=patch_files(_keys, "candidates.csv"),
            patches=[directory(d) for d in patch_files(_keys, "candidates")],
        params:
            jobs=_jobs,
            layer=PATCH_LAYER,
            patches=PATCHES,
            icons=ATLAS["icons"],
            image_size=config["data"]["image_size"],
            seed=config["seed"],
            device=config["device"],
        threads: side_by_side(4)
        priority: PRIORITY["atlas"]
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(60),
        log:
            log_file("patches_render", _net),
        benchmark:
            bench_file("patches_render", _net)
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/patches_render.py"

    rule:
        name:
            f"patches_experiment_{_net}"
        input:
            model=L.model(_net),
            candidates=patch_files(_keys, "candidates.csv"),
            test=patch_data(_net)["test"],
            train=patch_data(_net)["train"],
            classes=patch_data(_net)["classes"],
        output:
            flips=patch_files(_keys, "flips.csv"),
            patches=patch_files(_keys, "patches.csv"),
        params:
            jobs=_jobs,
            patches=PATCHES,
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
            log_file("patches_experiment", _net),
        benchmark:
            bench_file("patches_experiment", _net)
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/patches_experiment.py"

    rule:
        name:
            f"patches_summary_{_net}"
        input:
            flips=patch_files(_keys, "flips.csv"),
            candidates=patch_files(_keys, "candidates.csv"),
            test=patch_data(_net)["test"],
        output:
            summary=patch_files(_keys, "summary.csv"),
            json=patch_files(_keys, "summary.json"),
            rates=patch_files(_keys, "flip_rate.png", "flip_rate.pdf"),
            gallery=patch_files(_keys, "gallery.png", "gallery.pdf"),
        params:
            net=_net,
            jobs=_jobs,
            layer=PATCH_LAYER,
            data=config["data"],
            gallery=PATCHES["gallery"],
        localrule: True
        log:
            log_file("patches_summary", _net),
        benchmark:
            bench_file("patches_summary", _net)
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
            networks=ALL_NETS,
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
