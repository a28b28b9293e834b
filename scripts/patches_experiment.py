"""Rule patches_experiment_<net>: for every tested direction of one network, paste every patch
onto every source-class test image; record predictions."""
from vischange.patches import stages
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
i, o, p = snakemake.input, snakemake.output, snakemake.params
# Inputs and outputs list one entry per direction, in params.jobs order.
for (_a, _b, source, target), candidates, flips, patches in zip(p.jobs, i.candidates, o.flips, o.patches):
    stages.experiment_stage(
        i.model,
        candidates,
        i.test,
        i.train,
        i.classes,
        source=source,
        target=target,
        settings=p.patches,
        data=p.data,
        seed=p.seed,
        device=device,
        out_table=flips,
        out_patches=patches,
    )
