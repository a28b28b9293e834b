"""Rule topmaps_scan: activations of the layer on every split and each class's top maps."""
from vischange.paths import keyed
from vischange.runtime import start_job
from vischange.topmaps import stages

device = start_job(snakemake, torch=True)
settings = snakemake.params.topmaps
stages.scan(
    snakemake.input.model,
    layer=settings["layer"],
    manifests=keyed(snakemake.params.splits, snakemake.input.data),
    classes_txt=snakemake.input.classes,
    selection_split=settings["split"],
    n1=settings["n_per_image"],
    n2=settings["n_per_class"],
    image_size=snakemake.params.image_size,
    crop_fraction=snakemake.params.crop_fraction,
    device=device,
    out_activations=snakemake.output.activations,
    out_image_maps=snakemake.output.image_maps,
    out_class_maps=snakemake.output.class_maps,
    out_top_maps=snakemake.output.top_maps,
    workers=min(snakemake.threads, 4) - 1,
)
