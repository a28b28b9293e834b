# Fine-tuning variants compared pairwise (src/vischange/pairs/): with variants in the
# config, every pair of networks (base, finetuned and each variant) gets the render
# comparison and the render-free change of the study's own pair, and the paired test of
# fine-tuning change against fine-tuning noise. The study's pair keeps its compare/ and
# change/ tables; the other pairs' tables go under pairs/{a}/{b}/. Paths: results/{experiment}/pairs/.

_PAIRS = vvariants.pairs(config)
_OTHER_PAIRS = [pair for pair in _PAIRS if pair != tuple(NETS)]
_P = L.stage("pairs")

if VARIANTS:

    rule pair_compare:
        """The render comparison of two networks, as the study's (gray cut, per-channel test, changed share)."""
        input:
            embedder=EMBEDDER,
            tables_a=lambda wc: [ALL_RENDER_TABLES[(wc.a, l)] for l in LAYERS],
            tables_b=lambda wc: [ALL_RENDER_TABLES[(wc.b, l)] for l in LAYERS],
            cut=f"{R}/compare/gray_cut.json",
            null=[f"{R}/compare/null/layers.csv"] if NULL_LAYERS else [],
        output:
            renders=L.pair("{a}", "{b}", "compare", "renders.csv"),
            channels=L.pair("{a}", "{b}", "compare", "channels.csv"),
            layers=L.pair("{a}", "{b}", "compare", "layers.csv"),
        wildcard_constraints:
            a="|".join(ALL_NETS),
            b="|".join(ALL_NETS),
        params:
            layers=LAYERS,
            trainable=lambda wc: vvariants.pair_trainable(config, wc.a, wc.b),
            similarity=_CMP["similarity"],
            image_size=vcfg.embedding_size(config),
            gram_layers=_CMP["gram_layers"],
            batch_size=_CMP["batch_size"],
            percentile=_CMP["noise_percentile"],
            inference={k: _CMP[k] for k in ("fdr", "prior_df", "pi0_lambda", "n_boot", "share_interval")},
            device=config["device"],
            seed=config["seed"],
        threads: side_by_side(2)
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(60),
        log:
            log_file("pair_compare", "{a}/{b}"),
        benchmark:
            bench_file("pair_compare", "{a}/{b}")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/pair_compare.py"

    rule pairs_change:
        """CKA, channel correlations and weight change of every other pair, and the paired test of change against fine-tuning noise."""
        input:
            models=[L.model(net) for net in ALL_NETS],
            manifest=L.data(config["change"]["split"]),
        output:
            tables=[L.pair(a, b, "change", f"{name}.csv") for a, b in _OTHER_PAIRS for name in ("layers", "channels", "weights")],
            noise=f"{_P}/noise.csv",
        params:
            nets=ALL_NETS,
            pairs=_OTHER_PAIRS,
            noise_pairs=vvariants.fine_tuned_pairs(config),
            trainable={f"{a}/{b}": vvariants.pair_trainable(config, a, b) for a, b in _OTHER_PAIRS},
            layers=LAYERS,
            change={k: v for k, v in config["change"].items() if k != "split"},
            alpha=_CMP["fdr"],
            data={k: config["data"][k] for k in ("image_size", "eval_crop")},
            seed=config["seed"],
            device=config["device"],
        threads: side_by_side(4)
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(60),
        log:
            log_file("pairs_change"),
        benchmark:
            bench_file("pairs_change")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/pairs_change.py"

    rule pairs_tables:
        """Every pair's per-layer change (CKA and the render test) in one table, its weight change, and the networks' settings."""
        input:
            compare=[f"{R}/compare/layers.csv"] + [L.pair(a, b, "compare", "layers.csv") for a, b in _OTHER_PAIRS],
            change=[f"{L.stage('change')}/layers.csv"] + [L.pair(a, b, "change", "layers.csv") for a, b in _OTHER_PAIRS],
            weights=[f"{L.stage('change')}/weights.csv"] + [L.pair(a, b, "change", "weights.csv") for a, b in _OTHER_PAIRS],
            metrics=[L.train_metrics(net) for net in ALL_NETS[1:]],
        output:
            layers=f"{_P}/layers.csv",
            weights=f"{_P}/weights.csv",
            networks=f"{_P}/networks.csv",
        params:
            pairs=_PAIRS,
            nets=ALL_NETS[1:],
            config={"variants": config["variants"], "finetune": config["finetune"], "seed": config["seed"],
                    "model": {"finetuned": config["model"]["finetuned"]}},
        localrule: True
        log:
            log_file("pairs_tables"),
        benchmark:
            bench_file("pairs_tables")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/pairs_tables.py"

    rule pairs_figure:
        """Per-layer change for every pair of networks, weight change, and change against fine-tuning noise."""
        input:
            layers=rules.pairs_tables.output.layers,
            weights=rules.pairs_tables.output.weights,
            noise=rules.pairs_change.output.noise,
        output:
            report_figure("pairs_change", "Change per layer", "pairs"),
        localrule: True
        log:
            log_file("pairs_figure"),
        benchmark:
            bench_file("pairs_figure")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/pairs_figure.py"

    register_stage("pairs", [*rules.pairs_tables.output, rules.pairs_change.output.noise])
    register_paper_variables(
        "pairs",
        {"layers": rules.pairs_tables.output.layers, "networks": rules.pairs_tables.output.networks,
         "noise": rules.pairs_change.output.noise, "weights": rules.pairs_tables.output.weights},
    )


document_outputs(
    "pairs",
    """
pairs/{a}/{b}/compare/renders.csv        only with variants: per render of networks a and b (every pair but base, finetuned),
                                         as compare/renders.csv, gray by the study's cut
pairs/{a}/{b}/compare/channels.csv       the pair's per-channel test, compare/channels.csv's columns with _base, _finetuned
                                         read _a, _b
pairs/{a}/{b}/compare/layers.csv         its per-layer summary, as compare/layers.csv (the null experiment's columns are the study's)
pairs/{a}/{b}/change/{layers,channels,weights}.csv   its render-free change, as change/'s tables (channel means a_mean, b_mean;
                                         the head's change is measured between two fine-tuned networks)
pairs/noise.csv                          per pair of fine-tuned networks (net_x, net_y) and layer: cka_xy, cka_base_x, cka_base_y,
                                         d = cka_xy - mean(cka_base_x, cka_base_y) with its paired-bootstrap interval d_low, d_high,
                                         p_value, q_value (Holm over all tested rows), significant (q <= compare.fdr), status
                                         (tested, identical: nothing trained up to the layer, untestable)
pairs/layers.csv                         one row per pair (net_a, net_b, kind: fine-tuning or between fine-tunings) and layer:
                                         fine_tuned, identical_upstream, cka, cka_low, cka_high, cka_null, corr_median, n_used,
                                         n_tested, n_significant, changed_share, changed_share_low, changed_share_high,
                                         median_cosine, null_false_positive_share
pairs/weights.csv                        one row per pair and module: fine_tuned, kernel_change, other_change, stat_change,
                                         identical, replaced
pairs/networks.csv                       one row per fine-tuned network: role, description, trainable, epochs, lr, optimizer,
                                         seed, differs_from_finetuned, chosen_epoch, val_accuracy, test_accuracy
figures/pairs_change.{png,pdf}           only with variants: CKA, changed share, weight change and the noise test for every pair
""",
)
