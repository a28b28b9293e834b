"""Rule patches_summary_<net>: flip rates, the rate figure and the gallery of every tested
direction of one network."""
from vischange.patches import stages
from vischange.runtime import start_job

start_job(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
# One entry per direction in params.jobs order; the figures are (PNG, PDF) pairs.
for n, (_a, _b, source, target) in enumerate(p.jobs):
    stages.summary_stage(
        i.flips[n],
        i.candidates[n],
        i.test,
        net=p.net,
        source=source,
        target=target,
        layer=p.layer,
        data=p.data,
        gallery=p.gallery,
        out_summary=o.summary[n],
        out_json=o.json[n],
        out_rates=o.rates[2 * n : 2 * n + 2],
        out_gallery=o.gallery[2 * n : 2 * n + 2],
    )
