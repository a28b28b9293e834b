# Feature visualization of every selected channel, in jobs of (network, layer, chunk).
# One rule per (layer, chunk): a rule's outputs must be fixed patterns, and this way
# every render PNG is a declared output of the job that draws it.


for _layer in LAYERS:
    for _index, _channels in enumerate(CHUNKS[_layer]):

        rule:
            name:
                f"render_{_layer.replace('.', '_')}_chunk{_index}"
            input:
                model=f"{R}/models/{{net}}.pt",
                images=f"{R}/data/train.csv",
            output:
                table=f"{R}/renders/{{net}}/{_layer}/chunks/{_index}.csv",
                images=render_pngs("{net}", _layer, _channels),
            params:
                layer=_layer,
                channels=_channels,
                render=config["render"],
                seed=config["seed"],
                device=config["device"],
            threads: 4
            resources:
                gpu=1,
            log:
                f"{LOGS}/render/{{net}}/{_layer}/chunk{_index}.log",
            benchmark:
                f"{BENCH}/render/{{net}}/{_layer}/chunk{_index}.tsv"
            conda:
                "../../envs/vischange.yaml"
            script:
                "../../scripts/render_chunk.py"


rule render_table:
    """Concatenate a layer's chunk tables into renders.csv (one row per render)."""
    input:
        lambda wc: [
            f"{R}/renders/{wc.net}/{wc.layer}/chunks/{i}.csv"
            for i in range(len(CHUNKS[wc.layer]))
        ],
    output:
        f"{R}/renders/{{net}}/{{layer}}/renders.csv",
    localrule: True
    log:
        f"{LOGS}/render_table/{{net}}/{{layer}}.log",
    benchmark:
        f"{BENCH}/render_table/{{net}}/{{layer}}.tsv"
    conda:
        "../../envs/vischange.yaml"
    script:
        "../../scripts/render_table.py"
