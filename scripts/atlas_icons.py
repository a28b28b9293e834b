"""Rule atlas_icons: render one shard of a network's atlas icons."""
from vischange.atlas import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
stages.icons_stage(
    snakemake.input.model,
    snakemake.input.manifest,
    snakemake.input.directions,
    layer=snakemake.wildcards.layer,
    shard=int(snakemake.wildcards.shard),
    shards=snakemake.params.shards,
    settings=snakemake.params.icons,
    seed=snakemake.params.seed,
    device=device,
    out_table=snakemake.output.table,
    out_dir=snakemake.output.icons,
)
