# Feature visualization of every selected channel, in jobs of (network, chunk): a chunk is
# up to render.chunk_size channels, consecutive in layer order (vischange.config.chunks),
# so a job may span two layers. One rule per chunk: a rule's outputs must be fixed
# patterns, and this way every render PNG is a declared output of the job that draws it.


# The null experiment's renders (NULL_NET) are chunk jobs of the base network with the
# null seeds: the same engine and settings, only the seeds differ.
_RENDER_JOBS = [("render_chunk", "{net}", f"{R}/models/{{net}}.pt", SEEDS, "{net}", i, parts) for i, parts in enumerate(CHUNKS)]
_RENDER_JOBS += [
    ("render_null_chunk", NULL_NET, f"{R}/models/base.pt", NULL_SEEDS, NULL_NET, i, parts) for i, parts in enumerate(NULL_CHUNKS)
]

for _name, _net, _model, _seeds, _key, _index, _parts in _RENDER_JOBS:

    rule:
        name:
            f"{_name}{_index}"
        input:
            model=_model,
            images=f"{R}/data/train.csv",
        output:
            tables=[L.render_chunk(_net, layer, _index) for layer, _ in _parts],
            images=[png for layer, channels in _parts for png in render_pngs(_net, layer, channels, _seeds)],
        params:
            parts=_parts,
            render={**RENDER, "seeds": _seeds},
            seed=config["seed"],
            device=config["device"],
        threads: side_by_side(4)
        priority: PRIORITY["renders"]
        resources:
            gpu=GPU,
            mem_mb=retry_mem_mb(16000),
            runtime=retry_runtime(120),
        # On a cluster, profiles/slurm merges several chunk jobs into one submission.
        group:
            "render"
        log:
            log_file("render", f"{_key}/chunk{_index}"),
        benchmark:
            bench_file("render", f"{_key}/chunk{_index}")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/render_chunk.py"


# Per network, one pass over the images for every rendered layer: each rendered channel's
# mean activation on dataset images and its top-k dataset examples, saved beside the renders.
rule render_examples:
    input:
        model=f"{R}/models/{{net}}.pt",
        images=f"{R}/data/{config['render']['examples']['split']}.csv",
    output:
        stats=[f"{R}/renders/{{net}}/{layer}/dataset.csv" for layer in LAYERS],
        examples=[L.examples_table("{net}", layer) for layer in LAYERS],
        images=[L.example_png("{net}", layer, c) for layer in LAYERS for c in CHANNELS[layer]],
    params:
        layers=CHANNELS,
        examples=config["render"]["examples"],
        image_size=config["data"]["image_size"],
        crop_fraction=config["data"]["eval_crop"],
        seed=config["seed"],
        device=config["device"],
    threads: side_by_side(8)
    priority: PRIORITY["renders"]
    resources:
        gpu=GPU,
        mem_mb=retry_mem_mb(16000),
        runtime=retry_runtime(60),
    log:
        log_file("render_examples", "{net}"),
    benchmark:
        bench_file("render_examples", "{net}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/render_examples.py"


rule render_table:
    """Join a layer's chunk tables and its dataset statistics into renders.csv (the null
    experiment's renders take the base network's statistics)."""
    input:
        chunks=lambda wc: [
            L.render_chunk(wc.net, wc.layer, i)
            for i, parts in enumerate(NULL_CHUNKS if wc.net == NULL_NET else CHUNKS)
            if any(layer == wc.layer for layer, _ in parts)
        ],
        stats=lambda wc: f"{R}/renders/{'base' if wc.net == NULL_NET else wc.net}/{wc.layer}/dataset.csv",
    output:
        f"{R}/renders/{{net}}/{{layer}}/renders.csv",
    wildcard_constraints:
        net="|".join([*ALL_NETS, NULL_NET]),
    localrule: True
    log:
        log_file("render_table", "{net}/{layer}"),
    benchmark:
        bench_file("render_table", "{net}/{layer}")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/render_table.py"


rule render_quality:
    """Per network (variants included) and layer: median activation ratio and own-channel fraction of the renders."""
    input:
        tables=list(ALL_RENDER_TABLES.values()),
    output:
        f"{R}/renders/quality.csv",
    params:
        tables=list(ALL_RENDER_TABLES),
    localrule: True
    log:
        log_file("render_quality"),
    benchmark:
        bench_file("render_quality")
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/render_quality.py"


register_stage("render", [f"{R}/renders/quality.csv"])


document_outputs(
    "render",
    """
renders/{net}/{layer}/c{channel:04d}_s{seed}.png   one lossless PNG per render
renders/{net}/{layer}/chunks/{k}.csv     the table of one render job
renders/{net}/{layer}/renders.csv        layer, channel, seed, file, param, steps, objective,
                                         own_rank, dataset_mean, activation_ratio, seconds
renders/{net}/{layer}/dataset.csv        channel, dataset_mean, dataset_max_mean, images
renders/{net}/{layer}/examples.csv       channel, rank, path, label, activation, y, x, box_*
renders/{net}/{layer}/examples/c{channel:04d}.png   top-k dataset images, crops below
renders/basenull/{layer}/...            the null experiment's renders: the base network with compare.null_seeds, laid out
                                         as every network's (PNGs, chunks/, renders.csv with the base network's dataset means)
renders/quality.csv                      per net and layer: median activation ratio,
                                         own-channel fraction, median seconds per render
""",
)
