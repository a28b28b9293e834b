# Comparison of base and fine-tuned renders.


rule compare_channels:
    """Cosine similarity of base vs fine-tuned renders of each channel, and seed-vs-seed noise."""
    input:
        embedder=f"{R}/models/base.pt",
        tables=expand(f"{R}/renders/{{net}}/{{layer}}/renders.csv", net=NETS, layer=LAYERS),
    output:
        f"{R}/compare/channels.csv",
    params:
        trainable=config["finetune"]["trainable"],
        image_size=config["data"]["image_size"],
        device=config["device"],
        seed=config["seed"],
    threads: 2
    log:
        f"{LOGS}/compare_channels/compare_channels.log",
    benchmark:
        f"{BENCH}/compare_channels/compare_channels.tsv"
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/compare_channels.py"
