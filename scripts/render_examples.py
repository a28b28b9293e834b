"""Rule render_examples_<layer>: dataset mean activation and top-k dataset examples per channel."""
from vischange.render import dataset_examples
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
settings = snakemake.params.examples
dataset_examples.dataset_examples(
    snakemake.input.model,
    layer=snakemake.params.layer,
    channels=snakemake.params.channels,
    manifest=snakemake.input.images,
    image_size=snakemake.params.image_size,
    crop_fraction=snakemake.params.crop_fraction,
    k=settings["top_k"],
    max_images=settings["max_images"],
    seed=snakemake.params.seed,
    device=device,
    out_stats=snakemake.output.stats,
    out_examples=snakemake.output.examples,
    out_images=snakemake.output.images,
    workers=min(snakemake.threads, 4) - 1,
)
