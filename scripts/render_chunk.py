"""Rule render_chunk<k>: render one chunk of channels (of one or more layers) for one network."""
from vischange.render import chunk
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
chunk.render_chunk(
    snakemake.input.model,
    parts=snakemake.params.parts,
    settings=snakemake.params.render,
    seed=snakemake.params.seed,
    device=device,
    out_tables=snakemake.output.tables,
    out_images=snakemake.output.images,
    dataset_manifest=snakemake.input.images,
)
