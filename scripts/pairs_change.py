"""Rule pairs_change: render-free change of every pair, and change against fine-tuning noise."""
from vischange.change import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
p = snakemake.params
pairs = [tuple(pair) for pair in p.pairs]
tables = iter(snakemake.output.tables)
stages.pairs_change(
    dict(zip(p.nets, snakemake.input.models)), snakemake.input.manifest, pairs=pairs,
    trainable={(a, b): p.trainable[f"{a}/{b}"] for a, b in pairs}, noise_pairs=[tuple(x) for x in p.noise_pairs],
    layers=p.layers, settings=p.change, alpha=p.alpha, data=p.data, seed=p.seed, device=device,
    out={pair: {name: next(tables) for name in ("layers", "channels", "weights")} for pair in pairs},
    out_noise=snakemake.output.noise,
)
