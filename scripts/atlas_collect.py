"""Rule atlas_collect: one activation and attribution vector per image, for one network and layer."""
from vischange.atlas import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
stages.collect_stage(
    snakemake.input.model,
    snakemake.input.manifest,
    layer=snakemake.wildcards.layer,
    settings=snakemake.params.atlas,
    data=snakemake.params.data,
    seed=snakemake.params.seed,
    device=device,
    out_npz=snakemake.output.npz,
    out_samples=snakemake.output.samples,
)
