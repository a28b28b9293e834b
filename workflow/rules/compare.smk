# Comparison of base and fine-tuned renders: gray filter, render features (embedding
# cosine and Gram distances of every render pair), then per-channel scores, the noise
# floor and the summaries the paper reads.

_CMP = config["compare"]
EMBEDDER = f"{R}/models/base.pt" if _CMP["embedding"] == "base" else f"{R}/models/embedding.pt"


if _CMP["embedding"] != "base":

    rule embedding_network:
        """The independent embedding network from torchvision weights or a local file (a download: local)."""
        output:
            f"{R}/models/embedding.pt",
        params:
            arch=_CMP["embedding"],
            weights=_CMP["embedding_weights"],
            path=_CMP["embedding_path"],
        localrule: True
        log:
            log_file("embedding_network"),
        benchmark:
            bench_file("embedding_network")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/embedding_network.py"


rule gray_filter:
    """Gray score of every render of both networks, cut at the spike of the sorted scores."""
    input:
        tables=list(RENDER_TABLES.values()),
    output:
        renders=f"{R}/compare/renders.csv",
        cut=f"{R}/compare/gray_cut.json",
    params:
        tables=list(RENDER_TABLES),
        gray=_CMP["gray"],
    threads: 1
    resources:
        mem_mb=retry_mem_mb(4000),
        runtime=retry_runtime(60),
    log:
        log_file("gray_filter"),
    benchmark:
        bench_file("gray_filter")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/gray_filter.py"


rule compare_features:
    """Embedding cosine and Gram distances of every pair of renders of each channel."""
    input:
        embedder=EMBEDDER,
        tables=list(RENDER_TABLES.values()),
    output:
        cosine=f"{R}/compare/cosine_pairs.csv",
        gram=f"{R}/compare/gram_pairs.csv",
    params:
        tables=list(RENDER_TABLES),
        similarity=_CMP["similarity"],
        image_size=vcfg.embedding_size(config),
        gram_layers=_CMP["gram_layers"],
        batch_size=_CMP["batch_size"],
        device=config["device"],
        seed=config["seed"],
    threads: side_by_side(2)
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("compare_features"),
    benchmark:
        bench_file("compare_features")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/compare_features.py"


# The null experiment, on the layers where the comparison is a test (NULL_LAYERS; none when
# nothing is trained up to any render layer).
if NULL_LAYERS:

    rule compare_null:
        """The null experiment: the base network's renders against its null-seed renders, through
        the same similarity, gray cut, per-channel test and changed share (vischange.compare.null)."""
        input:
            embedder=EMBEDDER,
            base_tables=[RENDER_TABLES[("base", layer)] for layer in NULL_LAYERS],
            null_tables=list(NULL_TABLES.values()),
            renders=f"{R}/compare/renders.csv",
            cut=f"{R}/compare/gray_cut.json",
        output:
            renders=f"{R}/compare/null/renders.csv",
            cosine=f"{R}/compare/null/cosine_pairs.csv",
            channels=f"{R}/compare/null/channels.csv",
            layers=f"{R}/compare/null/layers.csv",
        params:
            base_tables=[("base", layer) for layer in NULL_LAYERS],
            null_tables=list(NULL_TABLES),
            seeds=SEEDS,
            null_seeds=NULL_SEEDS,
            similarity=_CMP["similarity"],
            image_size=vcfg.embedding_size(config),
            batch_size=_CMP["batch_size"],
            inference={k: _CMP[k] for k in ("fdr", "prior_df", "pi0_lambda", "n_boot", "share_interval")},
            device=config["device"],
            seed=config["seed"],
        threads: side_by_side(2)
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(60),
        log:
            log_file("compare_null"),
        benchmark:
            bench_file("compare_null")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/compare_null.py"


rule compare_channels:
    """Per-channel scores and flags, the noise floor, Gram table and per-layer summary."""
    input:
        renders=f"{R}/compare/renders.csv",
        cut=f"{R}/compare/gray_cut.json",
        cosine=f"{R}/compare/cosine_pairs.csv",
        gram=f"{R}/compare/gram_pairs.csv",
        null=[f"{R}/compare/null/layers.csv"] if NULL_LAYERS else [],
    output:
        channels=f"{R}/compare/channels.csv",
        gram=f"{R}/compare/gram.csv",
        layers=f"{R}/compare/layers.csv",
        summary=f"{R}/compare/summary.json",
    params:
        trainable=config["finetune"]["trainable"],
        percentile=_CMP["noise_percentile"],
        inference={k: _CMP[k] for k in ("fdr", "prior_df", "pi0_lambda", "n_boot", "share_interval")},
        similarity=_CMP["similarity"],
        seed=config["seed"],
    localrule: True
    log:
        log_file("compare_channels"),
    benchmark:
        bench_file("compare_channels")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/compare_channels.py"


register_stage(
    "compare", [f"{R}/compare/{name}" for name in ("channels.csv", "gram.csv", "layers.csv", "summary.json")]
)


document_outputs(
    "compare",
    """
models/embedding.pt                      only with compare.embedding other than base: the embedding network
compare/renders.csv                      net, layer, channel, seed, file, gray_score, gray (one row per render)
compare/gray_cut.json                    the gray cut: threshold, method (spike or fallback), jump, lower, upper, settings
compare/cosine_pairs.csv                 layer, channel, net_a, seed_a, net_b, seed_b, cosine_raw, cosine_centered (minus the
                                         mean embedding of the layer's renders), cosine (the one compare.similarity names; every pair of a
                                         channel's renders)
compare/gram_pairs.csv                   the same pairs, with feature_layer and gram_distance (one row per Gram layer)
compare/channels.csv                     one row per layer and channel: fine_tuned, n_seeds, gray_score_{base,finetuned},
                                         gray_{base,finetuned}, gray, cosine, noise_floor, below_floor, change_score,
                                         noise_quantile, cosine_{same_seed,cross_seed,noise_base,noise_finetuned},
                                         gram, gram_{same_seed,cross_seed,noise_base,noise_finetuned}; the calibrated test
                                         (vischange.compare.inference): n_seeds_tested, statistic, noise_level, noise_sd,
                                         effect_size, flip_p_value, p_value, q_value (BH per layer), significant (q <= fdr),
                                         status (changed, unchanged, identical: bit-identical renders, died, born, gray_both,
                                         untestable)
compare/gram.csv                         layer, channel, feature_layer, fine_tuned, gray, gram, gram_{same_seed,cross_seed,
                                         noise_base,noise_finetuned}
compare/layers.csv                       one row per render layer: counts (channels, gray, used, below floor), median and
                                         quartiles of cosine, noise floor, share_below_floor, median change score, Gram medians; and n_tested,
                                         n_significant, share_significant, n_{identical,died,born,gray_both,untestable}, n_changed_all,
                                         pi0 (Storey), changed_share with changed_share_{low,high} (bootstrap), fdr, pi0_lambda;
                                         similarity (the scale used), n_cross, n_noise, separation_{raw,centered} (Cohen's d of
                                         pair distances, cross-network against seed-vs-seed); the null experiment beside them:
                                         null_{n_tested,n_significant,false_positive_share,changed_share,changed_share_low,
                                         changed_share_high,n_died,n_born}
compare/null/renders.csv                 the null experiment (the base network's render seeds against its compare.null_seeds,
                                         as two networks): net (base, basenull), layer, channel, seed, file, gray_score, gray
                                         (the real comparison's cut)
compare/null/cosine_pairs.csv            its render pairs, as compare/cosine_pairs.csv (net basenull: the null seeds)
compare/null/channels.csv                its per-channel test, the columns of the calibrated test in compare/channels.csv
compare/null/layers.csv                  its per-layer rows as in compare/layers.csv's test columns, and
                                         false_positive_share (share of tested channels significant: all false positives)
compare/summary.json                     what the paper quotes: the gray cut and counts, layers.csv's rows, and median Gram
                                         distances per render layer and Gram layer
""",
)
