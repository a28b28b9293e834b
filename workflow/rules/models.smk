# Models: the base network (pretrained here, or torchvision/local weights) and its fine-tuned copy.

_BASE = config["model"]["base"]


if _BASE["source"] == "pretrain":

    rule pretrain:
        """Train the base network on the base task (the demo's stand-in for ImageNet)."""
        input:
            data=expand(f"{R}/data/base/{{split}}.csv", split=SPLITS),
            classes=f"{R}/data/base/classes.txt",
        output:
            model=f"{R}/models/base.pt",
            metrics=f"{R}/models/pretrain_metrics.json",
        params:
            **train_params("pretrain"),
            arch=config["model"]["arch"],
            data=config["data"],
            normalize=config["model"]["normalize"],
            resume=f"{R}/models/.resume/pretrain.pt",
        threads: 8
        # every network job waits for it: start it before anything else that is ready
        priority: PRIORITY["training"]
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(240),
        log:
            log_file("pretrain"),
        benchmark:
            bench_file("pretrain")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/pretrain.py"

else:

    rule base_weights:
        """Write the base network from torchvision's weights (hash-checked) or a local weights file."""
        input:
            [_BASE["path"]] if _BASE["source"] == "file" else [],
        output:
            model=f"{R}/models/base.pt",
        params:
            arch=config["model"]["arch"],
            base=_BASE,
            normalize=config["model"]["normalize"],
        localrule: True
        log:
            log_file("base_weights"),
        benchmark:
            bench_file("base_weights")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/base_weights.py"


_FINETUNED = config["model"]["finetuned"]

if _FINETUNED["source"] == "train":

    rule finetune:
        """Fine-tune the base network on the new task; only finetune.trainable (and a new head) train."""
        input:
            base=f"{R}/models/base.pt",
            data=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
            classes=f"{R}/data/classes.txt",
        output:
            model=f"{R}/models/finetuned.pt",
            metrics=f"{R}/models/finetune_metrics.json",
        params:
            **train_params("finetune"),
            data=config["data"],
            resume=f"{R}/models/.resume/finetune.pt",
        # side by side with the base network's jobs, which need only the base network; started
        # first, since the fine-tuned network's jobs, the comparison and the figures wait for it
        threads: side_by_side(8)
        priority: PRIORITY["training"]
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(240),
        log:
            log_file("finetune"),
        benchmark:
            bench_file("finetune")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/finetune.py"

else:

    rule finetuned_weights:
        """Take a network fine-tuned elsewhere: check it against the base network, evaluate it here."""
        input:
            base=f"{R}/models/base.pt",
            weights=_FINETUNED["path"],
            data=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
            classes=f"{R}/data/classes.txt",
        output:
            model=f"{R}/models/finetuned.pt",
            metrics=f"{R}/models/finetune_metrics.json",
        params:
            **train_params("finetune"),
            checksum=_FINETUNED["checksum"],
            trainable=config["finetune"]["trainable"],
            data=config["data"],
        threads: side_by_side(8)
        priority: PRIORITY["training"]
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(60),
        log:
            log_file("finetuned_weights"),
        benchmark:
            bench_file("finetuned_weights")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/finetuned_weights.py"


if VARIANTS:

    rule finetune_variant:
        """Fine-tune the base network again with a variant's overrides of the finetune section (scripts/finetune.py)."""
        input:
            base=f"{R}/models/base.pt",
            data=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
            classes=f"{R}/data/classes.txt",
        output:
            model=f"{R}/models/{{variant}}.pt",
            metrics=f"{R}/models/{{variant}}_metrics.json",
        wildcard_constraints:
            variant="|".join(VARIANTS),
        params:
            # the variant's own settings only: editing another variant does not retrain this one
            settings=lambda wc: vvariants.settings(config, wc.variant)[0],
            seed=lambda wc: vvariants.settings(config, wc.variant)[1],
            device=config["device"],
            data=config["data"],
            resume=lambda wc: f"{R}/models/.resume/{wc.variant}.pt",
        threads: side_by_side(8)
        priority: PRIORITY["training"]
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(240),
        log:
            log_file("finetune_variant", "{variant}"),
        benchmark:
            bench_file("finetune_variant", "{variant}")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/finetune.py"


register_stage("models", [f"{R}/models/finetune_metrics.json"])
register_stage("models", [f"{R}/models/{v}_metrics.json" for v in VARIANTS])


document_outputs(
    "models",
    """
models/base.pt, models/finetuned.pt      checkpoints: {arch, num_classes, class_names, mean, std, state_dict}
models/pretrain_metrics.json             demo only: the base network's own training
models/finetune_metrics.json             per-epoch train/val accuracy and loss, chosen epoch, test accuracy
                                         (model.finetuned.source file: no epochs; val and test accuracy measured here)
models/{variant}.pt                      each fine-tuning variant (variants: in the config), trained here with its overrides
models/{variant}_metrics.json            its training metrics, as finetune_metrics.json
""",
)
