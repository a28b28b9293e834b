"""Rule pairs_tables: the pairwise tables of every pair of networks."""
from vischange.pairs import stages
from vischange.runtime import start_job

start_job(snakemake)
p, i, o = snakemake.params, snakemake.input, snakemake.output
pairs = [tuple(pair) for pair in p.pairs]
stages.pairs_tables(
    p.config, change_layers=dict(zip(pairs, i.change)), compare_layers=dict(zip(pairs, i.compare)),
    weights=dict(zip(pairs, i.weights)), metrics=dict(zip(p.nets, i.metrics)),
    out_layers=o.layers, out_weights=o.weights, out_networks=o.networks,
)
