# Figures (PNG and PDF) from the tables; cheap, so they run where Snakemake runs.


rule figure_render_pairs:
    """Base render above fine-tuned render for each rendered channel, with its cosine."""
    input:
        channels=f"{R}/compare/channels.csv",
        tables=expand(f"{R}/renders/{{net}}/{{layer}}/renders.csv", net=NETS, layer=LAYERS),
    output:
        figure_files("render_pairs"),
    params:
        seed=SEEDS[0],
    localrule: True
    log:
        f"{LOGS}/figure_render_pairs/figure_render_pairs.log",
    benchmark:
        f"{BENCH}/figure_render_pairs/figure_render_pairs.tsv"
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_render_pairs.py"


rule figure_cosine_by_layer:
    """Distribution of base-vs-fine-tuned cosine per layer beside the seed-vs-seed noise."""
    input:
        f"{R}/compare/channels.csv",
    output:
        figure_files("cosine_by_layer"),
    localrule: True
    log:
        f"{LOGS}/figure_cosine_by_layer/figure_cosine_by_layer.log",
    benchmark:
        f"{BENCH}/figure_cosine_by_layer/figure_cosine_by_layer.tsv"
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_cosine_by_layer.py"
