"""Rule atlas_figures: the paper's atlas figures, drawn from one layer's icon grids and cell tables."""
from vischange.atlas import stages
from vischange.paths import Layout
from vischange.runtime import start_job

start_job(snakemake)
stages.paper_figures(
    Layout.of(snakemake.params.experiment),
    layer=snakemake.params.layer,
    settings=snakemake.params.atlas,
    out={key: list(files) for key, files in snakemake.output.items()},
)
