"""Rule render_chunk<k>: render one chunk of channels (of one or more layers) for one network."""
from vischange.render import chunk
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
p = snakemake.params
# The rule lists the PNGs part by part, each channel's seeds together: split them per part.
images, out = iter(snakemake.output.images), []
for _layer, channels in p.parts:
    out.append([next(images) for _ in range(len(channels) * len(p.render["seeds"]))])
chunk.render_chunk(
    snakemake.input.model,
    parts=snakemake.params.parts,
    settings=snakemake.params.render,
    seed=snakemake.params.seed,
    device=device,
    out_tables=snakemake.output.tables,
    out_images=out,
    dataset_manifest=snakemake.input.images,
)
