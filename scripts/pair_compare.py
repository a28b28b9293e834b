"""Rule pair_compare: the render comparison of networks a and b."""
from vischange.compare import tables
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
p, i, o, w = snakemake.params, snakemake.input, snakemake.output, snakemake.wildcards
tables.pair_compare(
    w.a, w.b, dict(zip(p.layers, i.tables_a)), dict(zip(p.layers, i.tables_b)), i.embedder, i.cut,
    i.null[0] if i.null else None, trainable=p.trainable, similarity=p.similarity, image_size=p.image_size,
    gram_layers=p.gram_layers, batch_size=p.batch_size, percentile=p.percentile, inference=p.inference, seed=p.seed,
    device=device, out_renders=o.renders, out_channels=o.channels, out_layers=o.layers,
)
