"""MACO render quality on a finished demo run, against the run's own Fourier renders.

Renders the same (channel, seed) pairs the run rendered with ``param: fourier`` again
with ``param: maco`` and MACO's own recipe (``render.maco``: NAdam, lr 1.0, 6 noisy crops
of a 5.7x canvas, 1,000 steps by default), through the workflow's own render job
(:func:`vischange.render.chunk.render_chunk`) and its tables
(:func:`vischange.render.tables.merge_tables`, ``quality_summary``), so every number is
the one the workflow would report for a MACO run:

* ``objective``: the channel's mean activation on the final render;
* ``activation_ratio``: objective / the channel's mean activation on the fine-tuning
  images (``dataset_mean`` of the run's ``dataset.csv``);
* ``own_rank``: 1 when no other channel's render (same layer, same seed) drives this
  channel harder (:func:`vischange.render.chunk.own_channel_rank`).

The Fourier numbers come from the run's ``renders.csv``; there ``own_rank`` is among all
the layer's rendered channels. When fewer channels are rendered here,
``fourier_own_rank_subset`` re-ranks the saved Fourier PNGs among the same subset, so
that both parameterizations compete with the same rivals.

    .venv/bin/python benchmarks/maco_quality.py --results /work/d2/results/demo \\
        --config /work/d2/config/config.yaml --layers layer4.1 --channels 8 --seeds 0

Writes the per-render table (--out-csv), the per (net, layer, param) summary
(--out-summary), the settings and timings (--out-json), and a figure with each Fourier
render over the MACO render of the same channel and seed (--figure).
"""

from __future__ import annotations

import argparse
import os
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402
from snakemake.utils import validate  # noqa: E402

from vischange import models  # noqa: E402
from vischange.activations import image_activations  # noqa: E402
from vischange.paths import Layout, render_file_name  # noqa: E402
from vischange.render import chunk, tables  # noqa: E402
from vischange.runtime import write_csv, write_json  # noqa: E402

from determinism_stress import cpu_model  # noqa: E402  (a sibling script: benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
NETS = ("base", "finetuned")


def load_config(path: Path) -> dict:
    """The run's config with the schema's defaults filled in, as the workflow sees it
    (Snakemake's ``validate`` fills them; the run's file has no ``render.maco``)."""
    config = yaml.safe_load(path.read_text())
    validate(config, str(SCHEMA))
    return config


def maco_settings(render: dict, seeds: list[int], steps: int | None) -> dict:
    """The run's ``render`` section switched to ``param: maco`` with the schema's
    ``render.maco`` recipe; ``steps`` overrides only ``render.maco.steps``."""
    maco = dict(render["maco"])
    if steps is not None:
        maco["steps"] = steps
    return {**render, "param": "maco", "maco": maco, "seeds": seeds}


def fourier_subset_rank(model, normalize, layout: Layout, net: str, layer: str, table: pd.DataFrame) -> list[int]:
    """own_rank of the run's Fourier PNGs among the rows of ``table`` only (same rivals
    as the MACO renders). PNGs are 8-bit, so activations differ from the float render's
    in the last digits; ranks only where two are that close."""
    images = torch.stack([
        torch.from_numpy(np.array(Image.open(layout.render_png(net, layer, c, s)).convert("RGB"))).permute(2, 0, 1)
        for c, s in zip(table.channel, table.seed)
    ]).float() / 255.0  # (N, 3, size, size) in [0, 1]
    acts = image_activations(model, layer, images, normalize=normalize, reduce="mean", batch_size=64)  # (N, C)
    return chunk.own_channel_rank(acts, table.channel.tolist(), table.seed.tolist())


def figure(rows: pd.DataFrame, layout: Layout, work: Path, out: Path, steps: int) -> None:
    """Per network, one row of Fourier renders over one row of MACO renders; columns are
    the (layer, channel, seed) pairs; each panel titled with its activation ratio."""
    keys = rows[["layer", "channel", "seed"]].drop_duplicates().values.tolist()
    nets = [n for n in NETS if n in set(rows.net)]
    fig, axes = plt.subplots(2 * len(nets), len(keys), figsize=(1.35 * len(keys), 1.6 * 2 * len(nets)), squeeze=False)
    by = rows.set_index(["net", "layer", "channel", "seed"])
    for i, net in enumerate(nets):
        for j, (layer, c, s) in enumerate(keys):
            row = by.loc[(net, layer, c, s)]
            for k, (param, path) in enumerate([("fourier", layout.render_png(net, layer, c, s)),
                                               ("maco", work / net / layer / render_file_name(c, s))]):
                ax = axes[2 * i + k, j]
                ax.imshow(Image.open(path).convert("RGB"))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"c{c} s{s}: {row[f'{param}_activation_ratio']:.1f}x", fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{net}\n{param}", fontsize=8)
    layers = ", ".join(sorted(set(rows.layer)))
    title = (f"Demo, {layers}: the run's Fourier renders ({int(rows.fourier_steps.iloc[0])} Adam steps) over "
             f"MACO renders ({steps} NAdam steps, Horama's recipe) of the same channel and seed; "
             "titles: channel, seed, activation ratio (render / dataset mean)")
    fig.suptitle(textwrap.fill(title, width=int(22 * len(keys))), fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results/demo"), help="the run's results/{experiment}")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="the run's config")
    parser.add_argument("--layers", nargs="+", default=["layer4.1"])
    # 4: MACO's 1,000 steps on 6 crops per render take ~40 s per render on 2 CPU cores in a
    # batch of 8 (measured), so 4 channels x 2 networks is ~6 minutes; pass the demo's 8 for
    # own_rank among the same rivals as its renders.csv.
    parser.add_argument("--channels", type=int, default=4, help="the first N of the run's rendered channels")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    parser.add_argument("--steps", type=int, default=None,
                        help="MACO steps (default: render.maco.steps of the config, the recipe's 1,000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, default=ROOT / "results/benchmarks/maco_renders",
                        help="where the MACO PNGs and chunk tables go")
    parser.add_argument("--out-csv", type=Path, default=ROOT / "benchmarks/maco_quality.csv")
    parser.add_argument("--out-summary", type=Path, default=ROOT / "benchmarks/maco_quality_summary.csv")
    parser.add_argument("--out-json", type=Path, default=ROOT / "benchmarks/maco_quality.json")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/demo_maco_vs_fourier.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    config = load_config(args.config)
    settings = maco_settings(config["render"], args.seeds, args.steps)
    steps = int(settings["maco"]["steps"])
    layout = Layout(str(args.results))
    manifest = layout.data("train")  # what render_chunk<k> reads (render.smk: input.images)
    runs = {}
    frames, quality = [], {}
    for net in args.nets:
        # The run's Fourier table, restricted to the subset rendered here.
        fourier = {layer: pd.read_csv(layout.render_table(net, layer)) for layer in args.layers}
        parts = []
        for layer in args.layers:
            channels = sorted(fourier[layer].channel.unique())[: args.channels]
            parts.append((layer, [int(c) for c in channels]))
        out_tables = [args.work / net / layer / "chunks/0.csv" for layer, _ in parts]
        out_images = [[args.work / net / layer / render_file_name(c, s) for c in channels for s in args.seeds]
                      for layer, channels in parts]  # per part
        start = time.perf_counter()
        chunk.render_chunk(layout.model(net), parts=parts, settings=settings, seed=config["seed"], device=device,
                           out_tables=out_tables, out_images=out_images, dataset_manifest=manifest)
        runs[net] = time.perf_counter() - start
        model, normalize, _ = models.load_network(layout.model(net), device)
        for (layer, channels), table in zip(parts, out_tables):
            # The workflow's render_table join: dataset_mean and activation_ratio.
            maco = tables.merge_tables([table], args.work / net / layer / "renders.csv",
                                       dataset_stats=Path(layout.renders(net, layer)) / "dataset.csv")
            four = fourier[layer]
            four = four[four.channel.isin(channels) & four.seed.isin(args.seeds)].sort_values(["channel", "seed"])
            if len(four) != len(maco):
                raise ValueError(f"{net} {layer}: the run has {len(four)} Fourier renders of these pairs, "
                                 f"not {len(maco)}")
            quality[(net, layer, "fourier")] = four
            quality[(net, layer, "maco")] = maco
            keep = ["objective", "activation_ratio", "own_rank"]
            merged = four[["layer", "channel", "seed", "dataset_mean", "steps"] + keep].rename(
                columns={"steps": "fourier_steps", **{k: f"fourier_{k}" for k in keep}}).reset_index(drop=True)
            merged["fourier_own_rank_subset"] = fourier_subset_rank(model, normalize, layout, net, layer, four)
            merged = merged.merge(maco[["channel", "seed", "steps", "seconds"] + keep].rename(
                columns={"steps": "maco_steps", "seconds": "maco_seconds", **{k: f"maco_{k}" for k in keep}}),
                on=["channel", "seed"], validate="one_to_one")
            merged.insert(0, "net", net)
            frames.append(merged)

    rows = pd.concat(frames, ignore_index=True)
    write_csv(args.out_csv, rows)
    # The workflow's quality.csv numbers, once per parameterization.
    summary = pd.concat([
        tables.quality_summary({(n, lay): t for (n, lay, p), t in quality.items() if p == param}).assign(param=param)
        for param in ("fourier", "maco")
    ]).sort_values(["net", "layer", "param"], kind="stable")
    summary = summary[["net", "layer", "param", "renders", "median_activation_ratio", "own_channel_fraction",
                       "median_seconds"]]
    write_csv(args.out_summary, summary)
    write_json(args.out_json, {
        "results": str(args.results),
        "layers": args.layers,
        "channels": args.channels,
        "seeds": args.seeds,
        "maco": settings["maco"],
        "maco_steps_is_recipe_default": steps == config["render"]["maco"]["steps"],
        "size": settings["size"],
        "wall_seconds_per_net": runs,
        "threads": args.threads,
        "device": str(device),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "summary": summary.to_dict(orient="records"),
    })
    figure(rows, layout, args.work, args.figure, steps)
    print(summary.to_string(index=False))
    print({net: f"{s:.1f} s" for net, s in runs.items()})


if __name__ == "__main__":
    main()
