"""Rule paper_variables: the numbers (variables.yml) and tables the paper quotes, from the run's outputs."""
from vischange import paper, registry
from vischange.runtime import start_job

start_job(snakemake)
i = snakemake.input
paper.write_inputs(
    snakemake.params.config,
    finetune=i.finetune,
    summary=i.summary,
    layers=i.layers,
    quality=i.quality,
    pretrain=i.pretrain[0] if i.pretrain else None,
    stage_variables=registry.paper_variables(
        {stage: {name: i[f"{stage}__{name}"] for name in names} for stage, names in snakemake.params.stage_files.items()}
    ),
    out_variables=snakemake.output.variables,
    out_tables=snakemake.output.tables,
)
