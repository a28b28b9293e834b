"""Rule folder_data: your own class folders, checked and split; the manifests."""
from pathlib import Path

from vischange.datasets import stanford
from vischange.runtime import start_job

start_job(snakemake)
p = snakemake.params
stanford.prepare(
    [],
    Path(snakemake.output.classes).parent,
    layout="folder",
    val_fraction=p.val_fraction,
    seed=p.seed,
    threads=snakemake.threads,
    directory=p.directory,
    parse_options={"test_fraction": p.test_fraction, "seed": p.seed},
)
