# The classic views (filters, feature maps, saliency, Grad-CAM, UMAP decision view,
# confusion) for both networks on the fine-tuning task, under attribution/{net}/.

_ATT = config["attribution"]



rule task_head:
    """The head deciding the fine-tuning task (fine-tuned: its own; base: a linear probe) and its predictions."""
    input:
        model=f"{R}/models/{{net}}.pt",
        data=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
        classes=f"{R}/data/classes.txt",
    output:
        head=f"{R}/attribution/{{net}}/task_head.pt",
        scores=f"{R}/attribution/{{net}}/scores.npz",
        predictions=f"{R}/attribution/{{net}}/predictions.csv",
        summary=f"{R}/attribution/{{net}}/head.json",
    params:
        kind=lambda wc: "probe" if wc.net == "base" else "own",
        splits=SPLITS,
        probe_c=_ATT["probe_c"],
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
        log_file("task_head", "{net}"),
    benchmark:
        bench_file("task_head", "{net}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/task_head.py"


rule attribution:
    """Saliency and Grad-CAM (Captum), filters, feature maps, UMAP decision view and confusion matrix."""
    input:
        model=f"{R}/models/{{net}}.pt",
        head=f"{R}/attribution/{{net}}/task_head.pt",
        test=f"{R}/data/test.csv",
        scores=f"{R}/attribution/{{net}}/scores.npz",
        predictions=f"{R}/attribution/{{net}}/predictions.csv",
    output:
        attributions=f"{R}/attribution/{{net}}/attributions.csv",
        embedding=f"{R}/attribution/{{net}}/embedding.csv",
        confusion=f"{R}/attribution/{{net}}/confusion.csv",
        weights=net_figure("attribution", "filters"),
        feature_maps=net_figure("attribution", "feature_maps"),
        saliency=net_figure("attribution", "saliency_gradcam"),
        embedding_figure=net_figure("attribution", "embedding"),
        confusion_figure=net_figure("attribution", "confusion"),
    params:
        attribution=_ATT,
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
        log_file("attribution", "{net}"),
    benchmark:
        bench_file("attribution", "{net}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/attribution.py"


rule attribution_figures:
    """The paper's attribution figures: both networks' saliency and Grad-CAM, and their decision views, side by side."""
    input:
        attribution=expand(f"{R}/attribution/{{net}}/saliency_gradcam.png", net=NETS),
        decision_boundary=expand(f"{R}/attribution/{{net}}/embedding.png", net=NETS),
    output:
        attribution=report_figure("attribution", "Attribution", "attribution"),
        decision_boundary=report_figure("decision_boundary", "Attribution", "attribution"),
    params:
        titles={
            "attribution": [f"{net} network" for net in NETS],
            "decision_boundary": [f"{net} network" for net in NETS],
        },
        suptitles={
            "attribution": "Saliency and Grad-CAM (Captum) on the same test images",
            "decision_boundary": "UMAP of penultimate features of the test split; misclassified images crossed",
        },
        columns={"attribution": 2, "decision_boundary": 2},
    localrule: True
    log:
        log_file("attribution_figures"),
    benchmark:
        bench_file("attribution_figures")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_panels.py"


# Every network, the variants included; the paper's figures show the study's pair.
register_stage(
    "attribution",
    expand(f"{R}/attribution/{{net}}/{{name}}", net=ALL_NETS, name=["attributions.csv", "embedding.csv", "confusion.csv"]),
)


document_outputs(
    "attribution",
    """
figures/attribution.{png,pdf}            both networks' attribution/{net}/saliency_gradcam.png side by side
figures/decision_boundary.{png,pdf}      both networks' attribution/{net}/embedding.png side by side
attribution/{net}/task_head.pt           the head that decides the fine-tuning task: {kind (own or probe), weight, bias,
                                         class_names}; base: a linear probe on its penultimate features (see below)
attribution/{net}/head.json              the head's kind, accuracy per split, probe settings
attribution/{net}/scores.npz             {split}_features (penultimate features), {split}_probs (class probabilities)
attribution/{net}/predictions.csv        split, index, path, label, predicted, correct, prob_true, prob_predicted
attribution/{net}/attributions.csv       the test images with saliency and Grad-CAM: index, path, label, predicted, correct,
                                         {saliency,gradcam_predicted,gradcam_true}_{max,top10_share}
attribution/{net}/embedding.csv          test split: index, path, label, predicted, correct, x, y (UMAP of penultimate features)
attribution/{net}/confusion.csv          true, predicted, count, fraction (of the true class), test split
attribution/{net}/filters.{png,pdf}      first-layer filter weights, one symmetric scale
attribution/{net}/feature_maps.{png,pdf} test image attribution.image: its most active maps at each of attribution.layers
attribution/{net}/saliency_gradcam.{png,pdf}  image, saliency (predicted class), Grad-CAM of the predicted and the true class
attribution/{net}/embedding.{png,pdf}    UMAP by true class, misclassified crossed, shaded by nearby predictions
attribution/{net}/confusion.{png,pdf}    row-normalized confusion matrix of the test split
""",
)
