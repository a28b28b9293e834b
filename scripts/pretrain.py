"""Rule pretrain: train the base network on the base task."""
from vischange import train
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
train.pretrain(
    arch=snakemake.params.arch,
    manifests=snakemake.input.data,
    classes_txt=snakemake.input.classes,
    data=snakemake.params.data,
    normalize=snakemake.params.normalize,
    settings=snakemake.params.settings,
    seed=snakemake.params.seed,
    device=device,
    out_model=snakemake.output.model,
    out_metrics=snakemake.output.metrics,
    resume=snakemake.params.resume,
)
