"""Rule finetune: fine-tune the base network on the new task."""
from vischange import train
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
train.finetune(
    base_model=snakemake.input.base,
    manifests=snakemake.input.data,
    classes_txt=snakemake.input.classes,
    data=snakemake.params.data,
    settings=snakemake.params.settings,
    seed=snakemake.params.seed,
    device=device,
    out_model=snakemake.output.model,
    out_metrics=snakemake.output.metrics,
    resume=snakemake.params.resume,
)
