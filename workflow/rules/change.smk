# Render-free change (src/vischange/change/): the held-out images through both networks;
# linear CKA and per-channel correlation of every render layer, and the relative weight
# change of every module. No renders: a second measurement beside the render comparison.
# Paths: results/{experiment}/change/.

_CHANGE = config["change"]


rule activation_change:
    """CKA with interval and reference, channel correlations, weight change: base against fine-tuned."""
    input:
        base=L.model("base"),
        finetuned=L.model("finetuned"),
        manifest=L.data(_CHANGE["split"]),
    output:
        layers=f"{L.stage('change')}/layers.csv",
        channels=f"{L.stage('change')}/channels.csv",
        weights=f"{L.stage('change')}/weights.csv",
        tensors=f"{L.stage('change')}/tensors.csv",
    params:
        layers=LAYERS,
        change={k: v for k, v in _CHANGE.items() if k != "split"},
        data={k: config["data"][k] for k in ("image_size", "eval_crop")},
        trainable=config["finetune"]["trainable"],
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(4)
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("activation_change"),
    benchmark:
        bench_file("activation_change")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/activation_change.py"


rule activation_change_figure:
    """CKA per layer with its interval and reference, channel correlations per layer, weight change per module."""
    input:
        layers=rules.activation_change.output.layers,
        channels=rules.activation_change.output.channels,
        weights=rules.activation_change.output.weights,
    output:
        report_figure("activation_change", "Change per layer", "change"),
    localrule: True
    log:
        log_file("activation_change_figure"),
    benchmark:
        bench_file("activation_change_figure")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/activation_change_figure.py"


rule activation_crosscheck:
    """Render-based against activation-based change per layer: Spearman's rho across channels, with its interval."""
    input:
        render=f"{R}/compare/channels.csv",
        activation=rules.activation_change.output.channels,
    output:
        table=f"{L.stage('change')}/crosscheck.csv",
        figure=report_figure("render_vs_activation", "Change per layer", "change"),
    params:
        n_boot=_CHANGE["n_boot"],
        confidence=_CHANGE["confidence"],
        seed=config["seed"],
    localrule: True
    log:
        log_file("activation_crosscheck"),
    benchmark:
        bench_file("activation_crosscheck")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/activation_crosscheck.py"


register_stage("change", [*rules.activation_change.output, rules.activation_crosscheck.output.table])
register_paper_variables(
    "change",
    {
        "layers": rules.activation_change.output.layers,
        "weights": rules.activation_change.output.weights,
        "crosscheck": rules.activation_crosscheck.output.table,
    },
)


document_outputs(
    "change",
    """
change/layers.csv                        one row per render layer: fine_tuned, identical_upstream (every weight up to the layer
                                         unchanged: the control, CKA and correlations exactly 1), n_images, n_channels, cka
                                         (linear CKA of spatial-mean activations on the same images), cka_low, cka_high
                                         (bootstrap interval), cka_null (CKA of shuffled images), corr_{median,q25,q75}, n_constant
change/channels.csv                      layer, channel, correlation (across images; empty for a constant channel),
                                         base_mean, finetuned_mean
change/weights.csv                       one row per module: fine_tuned, n_kernel, kernel_norm, kernel_change
                                         (||W_ft - W_base|| / ||W_base|| of conv and linear weights), other_change (biases,
                                         BatchNorm scale and shift), stat_change (BatchNorm running statistics), identical, replaced
change/tensors.csv                       one row per state-dict tensor: tensor, kind, shape, base_norm, diff_norm, relative, identical
change/crosscheck.csv                    per render layer: n_channels (rendered, tested, not constant), spearman (render
                                         effect size vs activation change 1 - r, across channels), spearman_{low,high}
                                         (bootstrap interval), p_value, confidence
figures/activation_change.{png,pdf}      CKA per layer with interval and shuffled reference, channel correlations per layer,
                                         relative weight change per module
figures/render_vs_activation.{png,pdf}   per layer: each rendered channel's render change against its activation change
""",
)
