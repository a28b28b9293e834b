"""Rule gray_filter: gray score and flag of every render, and the cut."""
from vischange.compare import gray
from vischange.paths import keyed
from vischange.runtime import start_job, write_csv, write_json

start_job(snakemake)
renders, cut = gray.gray_table(
    keyed(snakemake.params.tables, snakemake.input.tables),
    fallback_threshold=snakemake.params.gray["fallback_threshold"],
    min_jump=snakemake.params.gray["min_jump"],
)
write_csv(snakemake.output.renders, renders)
write_json(snakemake.output.cut, gray.cut_json(cut))
