"""Rule patches_render: render the atlas patches of one (network, pair, direction)."""
from vischange.patches import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
a, b, source, target = snakemake.params.job
stages.render_stage(
    snakemake.input.model,
    snakemake.input.manifest,
    snakemake.input.directions,
    snakemake.input.cells,
    pair=(a, b),
    source=source,
    target=target,
    layer=snakemake.params.layer,
    settings=snakemake.params.patches,
    icon_settings=snakemake.params.icons,
    image_size=snakemake.params.image_size,
    seed=snakemake.params.seed,
    device=device,
    out_table=snakemake.output.table,
    out_dir=snakemake.output.patches,
)
