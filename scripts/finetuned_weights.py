"""Rule finetuned_weights: a network fine-tuned elsewhere, checked against the base network and evaluated."""
from vischange import train
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
train.import_finetuned(
    base_model=snakemake.input.base,
    weights=snakemake.input.weights,
    checksum=snakemake.params.checksum,
    trainable=snakemake.params.trainable,
    manifests=snakemake.input.data,
    classes_txt=snakemake.input.classes,
    data=snakemake.params.data,
    settings=snakemake.params.settings,
    seed=snakemake.params.seed,
    device=device,
    out_model=snakemake.output.model,
    out_metrics=snakemake.output.metrics,
)
