"""Rule patches_render_<net>: render the atlas patches of every tested direction of one network."""
from vischange.patches import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
i, o, p = snakemake.input, snakemake.output, snakemake.params
# Inputs and outputs list one entry per direction, in params.jobs order.
for (a, b, source, target), cells, table, folder in zip(p.jobs, i.cells, o.tables, o.patches):
    stages.render_stage(
        i.model,
        i.manifest,
        i.directions,
        cells,
        pair=(a, b),
        source=source,
        target=target,
        layer=p.layer,
        settings=p.patches,
        icon_settings=p.icons,
        image_size=p.image_size,
        seed=p.seed,
        device=device,
        out_table=table,
        out_dir=folder,
    )
