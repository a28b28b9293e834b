"""Rule download: fetch one dataset file from its URL and verify its checksum."""
from vischange.datasets import download
from vischange.runtime import start_job

start_job(snakemake)
spec = snakemake.params.spec
download.download(spec["url"], snakemake.output[0], spec["checksum"], key=spec["key"])
