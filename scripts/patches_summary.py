"""Rule patches_summary: flip rates, the rate figure and the gallery of one (network, pair, direction)."""
from vischange.patches import stages
from vischange.runtime import start_job

start_job(snakemake)
_a, _b, source, target = snakemake.params.job
stages.summary_stage(
    snakemake.input.flips,
    snakemake.input.candidates,
    snakemake.input.test,
    net=snakemake.wildcards.net,
    source=source,
    target=target,
    layer=snakemake.params.layer,
    data=snakemake.params.data,
    gallery=snakemake.params.gallery,
    out_summary=snakemake.output.summary,
    out_json=snakemake.output.json,
    out_rates=snakemake.output.rates,
    out_gallery=snakemake.output.gallery,
)
