"""Per-rule timing table of one workflow run, from its Snakemake `benchmark:` files.

Every job writes benchmarks/{experiment}/{folder}/{key}.tsv (common.smk's bench_file;
the folder is the rule's family: render, atlas_icons, ...). This sums them per folder:

    python benchmarks/rule_times.py benchmarks/demo [--compare OTHER_DIR] [--out table.md]

Columns: jobs, summed wall time (s), longest job (s), summed CPU time (s) and the share
of the summed wall time. With --compare, a before/after table of two runs (OTHER_DIR is
"before"). Wall times of jobs that ran side by side add up to more than the run took.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def read_run(folder: Path) -> pd.DataFrame:
    """One row per job: family (first folder under `folder`), key, wall s, cpu s."""
    rows = []
    for path in sorted(folder.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        first = table.iloc[0]
        rel = path.relative_to(folder)
        rows.append({"family": rel.parts[0], "key": str(rel.with_suffix("")), "wall_s": float(first["s"]),
                     "cpu_s": float(first.get("cpu_time", float("nan")))})
    if not rows:
        raise SystemExit(f"no benchmark files under {folder}")
    return pd.DataFrame(rows)


def per_family(jobs: pd.DataFrame) -> pd.DataFrame:
    out = jobs.groupby("family").agg(jobs=("key", "size"), wall_s=("wall_s", "sum"), longest_s=("wall_s", "max"),
                                     cpu_s=("cpu_s", "sum"))
    out["share"] = out.wall_s / out.wall_s.sum()
    return out.sort_values("wall_s", ascending=False)


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| rule family | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in table.iterrows():
        cells = [f"{v:.0%}" if c == "share" else (f"{v:.0f}" if c.startswith("jobs") else f"{v:.1f}") for c, v in row.items()]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    total = table.sum(numeric_only=True)
    cells = ["" if c in ("share", "longest_s", "longest_s_before", "longest_s_after") else
             (f"{total[c]:.0f}" if c.startswith("jobs") else f"{total[c]:.1f}") for c in cols]
    lines.append("| **all** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="benchmarks/{experiment} of the run")
    parser.add_argument("--compare", type=Path, help="the same folder of an earlier run (before)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    after = per_family(read_run(args.folder))
    if args.compare:
        before = per_family(read_run(args.compare))
        columns = ["jobs", "wall_s", "cpu_s"]
        table = before[columns].merge(after[columns], left_index=True, right_index=True, how="outer",
                                      suffixes=("_before", "_after")).fillna(0)
        table = table.sort_values("wall_s_before", ascending=False)
    else:
        table = after
    text = markdown(table)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
