"""Rule render_examples: for one network, every rendered channel's dataset mean activation
and top-k dataset examples, all layers in one pass over the images."""
from vischange.render import dataset_examples
from vischange.runtime import start_job

device = start_job(snakemake, torch=True)
settings = snakemake.params.examples
layers = snakemake.params.layers  # {layer: channels}
out = snakemake.output
images = iter(out.images)
dataset_examples.dataset_examples(
    snakemake.input.model,
    layers=layers,
    manifest=snakemake.input.images,
    image_size=snakemake.params.image_size,
    crop_fraction=snakemake.params.crop_fraction,
    k=settings["top_k"],
    max_images=settings["max_images"],
    seed=snakemake.params.seed,
    device=device,
    # The outputs list each layer's files in `layers` order (rule render_examples).
    outputs={
        layer: (stats, examples, [next(images) for _ in channels])
        for (layer, channels), stats, examples in zip(layers.items(), out.stats, out.examples)
    },
    workers=min(snakemake.threads, 4) - 1,
)
