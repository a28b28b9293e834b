"""Rule explorer: the static site that browses the run (channels, atlases, top maps)."""
from vischange.explorer import stages
from vischange.runtime import start_job

start_job(snakemake)
i, p = snakemake.input, snakemake.params
stages.explorer(
    snakemake.output[0],
    experiment=p.experiment,
    nets=p.nets,
    layers=p.layers,
    compare_channels=i.compare_channels,
    compare_layers=i.compare_layers,
    activation_channels=i.activation_channels,
    quality=i.quality,
    classes=i.classes,
    render_keys=p.render_keys,
    render_tables=i.render_tables,
    example_tables=i.example_tables,
    atlas_keys=p.atlas_keys,
    atlas_cells=i.atlas_cells,
    atlas_titles=p.atlas_titles,
    icon_keys=p.icon_keys,
    atlas_icons=i.atlas_icons,
    topmap_keys=p.topmap_keys,
    topmap_files=i.topmap_files,
    topmaps_layer=p.topmaps_layer,
    figure_keys=p.figure_keys,
    figure_files=i.figure_files,
    settings=p.settings,
)
