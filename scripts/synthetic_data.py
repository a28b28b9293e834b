"""Rule synthetic_data: write the demo's base and fine-tuning tasks."""
from pathlib import Path

from vischange.datasets import synthetic
from vischange.runtime import start_job

start_job(snakemake)
cfg = snakemake.params.synthetic
for task, counts, out in (
    (cfg["base_task"], cfg["base_counts"], Path(snakemake.output.base_classes).parent),
    (cfg["finetune_task"], cfg["finetune_counts"], Path(snakemake.output.finetune_classes).parent),
):
    synthetic.write_dataset(out, task, counts, snakemake.params.image_size, snakemake.params.seed)
