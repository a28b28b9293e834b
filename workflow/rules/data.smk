# Data: the embedded procedural demo (base task and fine-tuning task).


rule synthetic_data:
    """Generate the demo's two tasks as PNGs with train/val/test manifests."""
    output:
        base=expand(f"{R}/data/base/{{split}}.csv", split=SPLITS),
        base_classes=f"{R}/data/base/classes.txt",
        base_images=directory(f"{R}/data/base/images"),
        finetune=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
        finetune_classes=f"{R}/data/classes.txt",
        finetune_images=directory(f"{R}/data/images"),
    params:
        synthetic=config["data"]["synthetic"],
        image_size=config["data"]["image_size"],
        seed=config["seed"],
    log:
        f"{LOGS}/synthetic_data/synthetic_data.log",
    benchmark:
        f"{BENCH}/synthetic_data/synthetic_data.tsv"
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/synthetic_data.py"
