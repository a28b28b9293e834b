"""Rule patches_experiment: paste every patch onto every source-class test image; record predictions."""
from vischange.patches import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
_a, _b, source, target = snakemake.params.job
stages.experiment_stage(
    snakemake.input.model,
    snakemake.input.candidates,
    snakemake.input.test,
    snakemake.input.train,
    snakemake.input.classes,
    source=source,
    target=target,
    settings=snakemake.params.patches,
    data=snakemake.params.data,
    seed=snakemake.params.seed,
    device=device,
    out_table=snakemake.output.flips,
    out_patches=snakemake.output.patches,
)
