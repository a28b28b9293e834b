"""Rule contract: results/{experiment}/contract.json from the stage registry (no torch)."""
import json

with open(snakemake.output[0], "w") as out:
    json.dump(
        {
            "stages": snakemake.params.stages,
            "figures": snakemake.params.figures,
            # [stage, rows] in include order: config/README.md's table (vischange.contract)
            "documented": [list(d) for d in snakemake.params.documented],
        },
        out,
        indent=2,
        sort_keys=True,
    )
    out.write("\n")
