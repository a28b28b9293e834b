"""Rule domain_compare: both networks' robustness to the domain shift, side by side."""
from vischange.domain import stages
from vischange.runtime import start_job

start_job(snakemake)
i, o = snakemake.input, snakemake.output
nets = snakemake.params.nets
stages.compare(dict(zip(nets, i.detectors)), dict(zip(nets, i.accuracies)), o.table, o.summary, o.figure)
