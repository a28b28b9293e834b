"""Rule task_head: the head deciding the fine-tuning task for one network, and its predictions."""
from vischange.attribution import stages
from vischange.paths import keyed
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
p, o = snakemake.params, snakemake.output
stages.task_head(
    snakemake.input.model,
    kind=p.kind,
    manifests=keyed(p.splits, snakemake.input.data),
    classes_txt=snakemake.input.classes,
    image_size=p.image_size,
    crop_fraction=p.crop_fraction,
    probe_c=p.probe_c,
    seed=p.seed,
    device=device,
    out_head=o.head,
    out_scores=o.scores,
    out_predictions=o.predictions,
    out_summary=o.summary,
    workers=min(snakemake.threads, 4) - 1,
)
