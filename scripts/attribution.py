"""Rule attribution: saliency, Grad-CAM, filters, feature maps, UMAP decision view and confusion for one network."""
from vischange.attribution import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
i, o, p = snakemake.input, snakemake.output, snakemake.params
settings = p.attribution
stages.views(
    i.model,
    i.head,
    test_manifest=i.test,
    scores=i.scores,
    predictions=i.predictions,
    net=snakemake.wildcards.net,
    layer=settings["layer"],
    layers=settings["layers"],
    maps=settings["maps"],
    image=settings["image"],
    n_images=settings["images"],
    umap_settings=settings["umap"],
    image_size=p.image_size,
    crop_fraction=p.crop_fraction,
    seed=p.seed,
    device=device,
    out={k: o[k] for k in o.keys()},
)
