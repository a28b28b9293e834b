"""Rule activation_change: CKA, per-channel correlation and weight change of base vs fine-tuned, no renders."""
from vischange.change import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
stages.activation_change(
    snakemake.input.base,
    snakemake.input.finetuned,
    snakemake.input.manifest,
    layers=snakemake.params.layers,
    settings=snakemake.params.change,
    data=snakemake.params.data,
    seed=snakemake.params.seed,
    device=device,
    trainable=snakemake.params.trainable,
    out_layers=snakemake.output.layers,
    out_channels=snakemake.output.channels,
    out_weights=snakemake.output.weights,
    out_tensors=getattr(snakemake.output, "tensors", None),  # optional output
)
