"""Rule topmaps_summary: one image's maps, one map on many images, class sums as a detector, every top-map figure."""
from vischange.runtime import start_job
from vischange.topmaps import stages

device = start_job(snakemake, torch=True)
i, o = snakemake.input, snakemake.output
stages.summarize(
    i.model,
    net=snakemake.wildcards.net,
    layer=snakemake.params.topmaps["layer"],
    manifests={"val": i.val, "test": i.test},
    classes_txt=i.classes,
    activations=i.activations,
    class_maps=i.class_maps,
    top_maps=i.top_maps,
    predictions=i.predictions,
    scores=i.scores,
    renders=i.renders,
    settings=snakemake.params.topmaps,
    image_size=snakemake.params.image_size,
    crop_fraction=snakemake.params.crop_fraction,
    seed=snakemake.params.seed,
    device=device,
    out={k: o[k] for k in o.keys()},
)
