"""Rule target_data: the target domain's manifest, data/target.csv (domain-shifted demo images, or a user-given folder)."""
from vischange.datasets import stanford
from vischange.domain import stages
from vischange.runtime import start_job

start_job(snakemake)
p = snakemake.params
if p.domain["source"] == "synthetic":
    stages.synthetic_target(
        snakemake.output.manifest,
        task=p.synthetic["finetune_task"],
        per_class=p.synthetic["finetune_counts"]["test"],
        image_size=p.image_size,
        seed=p.seed,
        style=p.domain["style"],
        classes_txt=snakemake.input.classes,
    )
else:
    from vischange.datasets import read_classes

    stanford.folder_manifest(p.domain["folder"], read_classes(snakemake.input.classes), snakemake.output.manifest,
                             threads=snakemake.threads)
