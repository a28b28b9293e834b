# Figures (PNG and PDF) from the tables; cheap, so they run where Snakemake runs.

_RENDERS = list(RENDER_TABLES.values())


rule figure_render_pairs:
    """Base render above fine-tuned render for the first rendered channels, with their cosine."""
    input:
        channels=f"{R}/compare/channels.csv",
        tables=_RENDERS,
    output:
        report_figure("render_pairs", "Renders", "compare"),
    params:
        tables=list(RENDER_TABLES),
        seed=SEEDS[0],
    localrule: True
    log:
        log_file("figure_render_pairs"),
    benchmark:
        bench_file("figure_render_pairs")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_render_pairs.py"


rule figure_top_channels:
    """The top-k most and least changed channels per layer, base above fine-tuned (Figures 5-8)."""
    input:
        channels=f"{R}/compare/channels.csv",
        tables=_RENDERS,
    output:
        most=report_figure("most_changed", "Renders", "compare"),
        least=report_figure("least_changed", "Renders", "compare"),
    params:
        tables=list(RENDER_TABLES),
        seed=SEEDS[0],
        k=config["compare"]["top_k"],
    localrule: True
    log:
        log_file("figure_top_channels"),
    benchmark:
        bench_file("figure_top_channels")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_top_channels.py"


rule figure_random_channels:
    """A few channels of the last render layer drawn at random (Figure 10)."""
    input:
        channels=f"{R}/compare/channels.csv",
        tables=_RENDERS,
    output:
        report_figure("random_channels", "Renders", "compare"),
    params:
        tables=list(RENDER_TABLES),
        seed=SEEDS[0],
        layer=LAYERS[-1],
        k=config["compare"]["random_channels"],
        rng_seed=config["seed"],
    localrule: True
    log:
        log_file("figure_random_channels"),
    benchmark:
        bench_file("figure_random_channels")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_random_channels.py"


rule figure_cosine_by_layer:
    """Box plot of base-vs-fine-tuned cosine per layer beside the seed-vs-seed noise floor (Figure 9)."""
    input:
        channels=f"{R}/compare/channels.csv",
        layers=f"{R}/compare/layers.csv",
    output:
        report_figure("cosine_by_layer", "Change per layer", "compare"),
    params:
        percentile=config["compare"]["noise_percentile"],
    localrule: True
    log:
        log_file("figure_cosine_by_layer"),
    benchmark:
        bench_file("figure_cosine_by_layer")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_cosine_by_layer.py"


rule figure_change_tests:
    """Per layer: the estimated changed share with its interval and the significant share at
    the FDR level, beside the null experiment's (its false positives)."""
    input:
        layers=f"{R}/compare/layers.csv",
    output:
        report_figure("change_tests", "Change per layer", "compare"),
    localrule: True
    log:
        log_file("figure_change_tests"),
    benchmark:
        bench_file("figure_change_tests")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_change_tests.py"


rule figure_gram_by_layer:
    """Median Gram distance per layer of the embedding network, beside seed-vs-seed."""
    input:
        f"{R}/compare/gram.csv",
    output:
        report_figure("gram_by_layer", "Change per layer", "compare"),
    localrule: True
    log:
        log_file("figure_gram_by_layer"),
    benchmark:
        bench_file("figure_gram_by_layer")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_gram_by_layer.py"


rule figure_gray:
    """Sorted gray scores with the cut (Figure 13) and gray counts per layer and network (Figure 11)."""
    input:
        renders=f"{R}/compare/renders.csv",
        cut=f"{R}/compare/gray_cut.json",
    output:
        scores=report_figure("gray_scores", "Gray filter", "compare"),
        counts=report_figure("gray_counts", "Gray filter", "compare"),
    localrule: True
    log:
        log_file("figure_gray"),
    benchmark:
        bench_file("figure_gray")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/figure_gray.py"


document_outputs(
    "compare",
    """
figures/render_pairs.{png,pdf}           base renders over fine-tuned renders, the first channels of each layer
figures/most_changed.{png,pdf}           the top_k lowest-cosine usable channels per layer, base over fine-tuned
figures/least_changed.{png,pdf}          the top_k highest-cosine usable channels per layer, base over fine-tuned
figures/random_channels.{png,pdf}        random_channels channels of the last render layer, drawn with the config seed
figures/change_tests.{png,pdf}           per layer: changed share with its interval and the share significant at compare.fdr,
                                         beside the null experiment's
figures/cosine_by_layer.{png,pdf}        box plot of cosine per layer beside seed-vs-seed, noise floor and share below it
figures/gram_by_layer.{png,pdf}          median Gram distance per Gram layer, per render layer, beside seed-vs-seed
figures/gray_scores.{png,pdf}            every render's gray score, sorted (log scale), with the cut
figures/gray_counts.{png,pdf}            gray renders per layer and network
""",
)
