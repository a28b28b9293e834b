"""Rule topmaps_render: top maps of the shown classes, by the seed's upscaling render and by the render engine."""
import pandas as pd

from vischange import class_maps
from vischange.datasets import read_classes
from vischange.runtime import start_job
from vischange.topmaps import stages

device = start_job(snakemake, torch=True)
settings = snakemake.params.topmaps
names = read_classes(snakemake.input.classes)
stages.render_top_maps(
    snakemake.input.model,
    layer=settings["layer"],
    top_maps=pd.read_csv(snakemake.input.top_maps),
    classes=class_maps.shown_classes(names, settings["classes"], settings["max_classes"]),
    per_class=settings["render_maps"],
    upscale=settings["upscale"],
    render_settings=snakemake.params.render,
    train_manifest=snakemake.input.images,
    seed=snakemake.params.seed,
    device=device,
    out_table=snakemake.output.table,
    out_dir=snakemake.output.images,
)
