"""Rule domain_summary: source vs target accuracy, confusion, detector-versus-classifier table, class sums, overlays."""
from vischange.domain import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
i, o, p = snakemake.input, snakemake.output, snakemake.params
stages.summarize(
    i.model,
    net=snakemake.wildcards.net,
    layer=p.topmaps["layer"],
    source_manifests={"val": i.val, "test": i.test},
    target_manifest=i.target,
    classes_txt=i.classes,
    source_activations=i.activations,
    top_maps=i.top_maps,
    source_predictions=i.predictions,
    source_scores=i.scores,
    target_scores=i.target_scores,
    target_predictions=i.target_predictions,
    settings=p.domain,
    topmap_settings=p.topmaps,
    image_size=p.image_size,
    crop_fraction=p.crop_fraction,
    seed=p.seed,
    device=device,
    out={k: o[k] for k in o.keys()},
)
