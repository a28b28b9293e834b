# Domain shift (the feature-map article's questions 4 and 5 across domains): the fine-tuning
# task's source test split against a second test set of the same classes (domain section).
# The data manifest goes to data/target.csv, everything else under domain/{net}/ and domain/.

_DOM = config["domain"]


if DOMAIN_ON:
    _TARGET_OUT = {"manifest": f"{R}/data/target.csv"}
    if _DOM["source"] == "synthetic":
        _TARGET_OUT["images"] = directory(f"{R}/data/target")

    rule target_data:
        """The target domain's manifest: the demo's test split redrawn in a shifted style, or a user-given class-per-folder set."""
        input:
            classes=f"{R}/data/classes.txt",
        output:
            **_TARGET_OUT,
        params:
            domain=_DOM,
            synthetic=config["data"]["synthetic"],
            image_size=config["data"]["image_size"],
            seed=config["seed"],
        # It needs only the data: done early, the domain jobs need not queue up at the end
        # of a local run, when too few jobs are left to keep every core busy. At most half
        # the cores locally, or it waits for all of them to be free at once (the tail).
        threads: side_by_side(4)
        priority: PRIORITY["renders"]
        resources:
            mem_mb=retry_mem_mb(4000),
            runtime=retry_runtime(30),
        log:
            log_file("target_data"),
        benchmark:
            bench_file("target_data")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/target_data.py"

    rule domain_scan:
        """The network on the target domain: spatial means of the top-map layer and the task head's decisions."""
        input:
            model=f"{R}/models/{{net}}.pt",
            head=f"{R}/attribution/{{net}}/task_head.pt",
            target=f"{R}/data/target.csv",
            classes=f"{R}/data/classes.txt",
        output:
            scores=f"{R}/domain/{{net}}/target_scores.npz",
            predictions=f"{R}/domain/{{net}}/predictions.csv",
        params:
            layer=config["topmaps"]["layer"],
            image_size=config["data"]["image_size"],
            crop_fraction=config["data"]["eval_crop"],
            seed=config["seed"],
            device=config["device"],
        threads: side_by_side(4)
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(60),
        log:
            log_file("domain_scan", "{net}"),
        benchmark:
            bench_file("domain_scan", "{net}")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/domain_scan.py"

    rule domain_summary:
        """Source vs target: accuracy, confusion matrices, top-map detector vs classifier, class sums, overlays."""
        input:
            model=f"{R}/models/{{net}}.pt",
            val=f"{R}/data/val.csv",
            test=f"{R}/data/test.csv",
            target=f"{R}/data/target.csv",
            classes=f"{R}/data/classes.txt",
            activations=f"{R}/topmaps/{{net}}/activations.npz",
            top_maps=f"{R}/topmaps/{{net}}/top_maps.csv",
            predictions=f"{R}/attribution/{{net}}/predictions.csv",
            scores=f"{R}/attribution/{{net}}/scores.npz",
            target_scores=f"{R}/domain/{{net}}/target_scores.npz",
            target_predictions=f"{R}/domain/{{net}}/predictions.csv",
        output:
            accuracy=f"{R}/domain/{{net}}/accuracy.csv",
            confusion_source=f"{R}/domain/{{net}}/confusion_source.csv",
            confusion_target=f"{R}/domain/{{net}}/confusion_target.csv",
            detector=f"{R}/domain/{{net}}/detector.csv",
            sums=f"{R}/domain/{{net}}/class_sums.csv",
            overlays=f"{R}/domain/{{net}}/overlays.csv",
            confusion_figure=net_figure("domain", "confusion"),
            detector_figure=net_figure("domain", "detector"),
            sums_figure=net_figure("domain", "class_sums"),
            overlays_figure=net_figure("domain", "overlays"),
        params:
            domain=_DOM,
            # The layer and the shown classes: other top-map settings do not rerun this job.
            topmaps={k: config["topmaps"][k] for k in ("layer", "classes", "max_classes")},
            image_size=config["data"]["image_size"],
            crop_fraction=config["data"]["eval_crop"],
            seed=config["seed"],
            device="cpu",  # forward passes of a few images: cheap where Snakemake runs
        localrule: True
        log:
            log_file("domain_summary", "{net}"),
        benchmark:
            bench_file("domain_summary", "{net}")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/domain_summary.py"

    rule domain_compare:
        """Every network: per-class classifier recall and AUC, and top-map detector AUC, source against target."""
        input:
            detectors=expand(f"{R}/domain/{{net}}/detector.csv", net=ALL_NETS),
            accuracies=expand(f"{R}/domain/{{net}}/accuracy.csv", net=ALL_NETS),
        output:
            table=f"{R}/domain/compare.csv",
            summary=f"{R}/domain/summary.csv",
            figure=report_figure("domain_compare", "Domain shift", "domain"),
        params:
            nets=ALL_NETS,
        localrule: True
        log:
            log_file("domain_compare"),
        benchmark:
            bench_file("domain_compare")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/domain_compare.py"

    rule domain_figures:
        """The paper's domain-shift figures: both networks' confusion matrices, detectors and overlays, one network per row."""
        input:
            domain_confusion=expand(f"{R}/domain/{{net}}/confusion.png", net=NETS),
            domain_detector=expand(f"{R}/domain/{{net}}/detector.png", net=NETS),
            domain_overlays=expand(f"{R}/domain/{{net}}/overlays.png", net=NETS),
        output:
            domain_confusion=report_figure("domain_confusion", "Domain shift", "domain"),
            domain_detector=report_figure("domain_detector", "Domain shift", "domain"),
            domain_overlays=report_figure("domain_overlays", "Domain shift", "domain"),
        params:
            titles={name: [f"{net} network" for net in NETS] for name in DOMAIN_FIGURES},
            suptitles={
                "domain_confusion": "Confusion matrices on the source test split and on the target domain",
                "domain_detector": "Summed top maps as class detectors against the classifier, source and target",
                "domain_overlays": "Each class's first top map on images of its class, source over target",
            },
            # Confusion matrices and detector rows are wide; the overlay grids are tall.
            columns={"domain_confusion": 1, "domain_detector": 1, "domain_overlays": 2},
        localrule: True
        log:
            log_file("domain_figures"),
        benchmark:
            bench_file("domain_figures")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/figure_panels.py"


# A user-given target folder that is missing leaves the stage out of `rule all` (common.smk).
if DOMAIN_IN_ALL:
    register_stage("domain", domain_outputs())


document_outputs(
    "domain",
    """
data/target.csv                          domain.source not none: the target domain's manifest (path,label; the task's labels)
data/target/images/test/{class}/*.png    domain.source synthetic: the test split redrawn in domain.style (image i = test image i)
domain/{net}/target_scores.npz           target domain: acts (images x maps, spatial means of topmaps.layer), labels, probs
domain/{net}/predictions.csv             target domain: index, path, label, predicted, correct, prob_true, prob_predicted
domain/{net}/accuracy.csv                domain (source = the test split, target), images, accuracy
domain/{net}/confusion_{source,target}.csv   true, predicted, count, fraction (of the true class)
domain/{net}/detector.csv                per class: n_maps, threshold (source val), val_f1, and for d in source, target:
                                         {d}_images, {d}_auc, {d}_precision, {d}_recall, {d}_mean_sum (top-map detector),
                                         head_{d}_auc, head_{d}_precision, head_{d}_recall (the network's classifier)
domain/{net}/class_sums.csv              target domain: split (target), index, path, label, maps_of, sum
domain/{net}/overlays.csv                class, label, map, domain, index, path, activation (the map's mean on the image)
domain/{net}/confusion.{png,pdf}         source and target confusion matrices side by side
domain/{net}/detector.{png,pdf}          per class AUC, precision, recall: top-map detector vs classifier, source and target
domain/{net}/class_sums.{png,pdf}        per shown class: summed top-map activation of every target image, source threshold
domain/{net}/overlays.{png,pdf}          each shown class's first top map on images of its class, source rows over target rows
domain/compare.csv                       net, label, class, n_maps, head_recall_*, head_auc_*, detector_auc_* (source,
                                         target, change = target - source), detector_{precision,recall}_target
domain/summary.csv                       net, domain, accuracy, mean_head_recall, median_head_auc, median_detector_auc,
                                         median_head_auc_same_classes (classes with top maps), classes_with_maps
figures/domain_compare.{png,pdf}         per class, source (x) against target (y): classifier recall and AUC, detector AUC
figures/domain_{confusion,detector,overlays}.{png,pdf}  the per-network domain figures, both networks side by side
""",
)
