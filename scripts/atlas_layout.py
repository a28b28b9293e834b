"""Rule atlas_layout: layouts, grids and icon directions of every atlas of a layer."""
from vischange.atlas import stages
from vischange.paths import Layout
from vischange.runtime import start_job

start_job(snakemake)
nets = snakemake.params.nets
stages.layout_stage(
    dict(zip(nets, snakemake.input.npz)),
    snakemake.input.classes,
    settings=snakemake.params.atlas,
    seed=snakemake.params.seed,
    results=Layout.of(snakemake.params.experiment),
    layer=snakemake.wildcards.layer,
    out_directions=dict(zip(nets, snakemake.output.directions)),
)
