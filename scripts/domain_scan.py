"""Rule domain_scan: top-map-layer activations and the task head's decisions on the target domain."""
from vischange.domain import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
i, o, p = snakemake.input, snakemake.output, snakemake.params
stages.scan(
    i.model,
    i.head,
    manifest=i.target,
    classes_txt=i.classes,
    layer=p.layer,
    image_size=p.image_size,
    crop_fraction=p.crop_fraction,
    device=device,
    out_scores=o.scores,
    out_predictions=o.predictions,
    workers=min(snakemake.threads, 4) - 1,
)
