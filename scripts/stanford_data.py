"""Rule stanford_data: verify, extract and check Stanford Dogs / Cars; write the manifests."""
from pathlib import Path

from vischange.datasets import download, stanford
from vischange.runtime import start_job

start_job(snakemake)
for spec, path in zip(snakemake.params.files, snakemake.input):
    download.verify(path, spec["checksum"], key=spec["key"])
stanford.prepare(
    list(snakemake.input),
    Path(snakemake.output.classes).parent,
    layout=snakemake.params.layout,
    val_fraction=snakemake.params.val_fraction,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    directory=snakemake.params.directory,
)
