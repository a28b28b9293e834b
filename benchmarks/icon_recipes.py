"""Atlas icons of the same cells under the old recipe and under lucid's, on a finished run.

Takes a few filled cells of a network's main atlas (the most populated ones) from the
run's ``directions.npz`` (their whitened cell-mean directions, seeds and the network's
whitening matrix, as the layout stage wrote them) and renders their icons twice through
the workflow's own icon job (:func:`vischange.atlas.stages.icons_stage`), changing only
``atlas.icons.objective`` and ``atlas.icons.transforms``:

* old: ``objective: mean`` (dot x cos^n averaged over the layer's map) under the channel
  renders' ``standard`` transforms;
* lucid: ``objective: center`` (the centre neuron only) under lucid's ``atlas``
  transforms, the package's default.

Same whitening (the run's), seeds, size, steps and learning rate for both. Each icon's
own final objective is not comparable across recipes (centre vs spatial mean), so both
objectives are also read off every saved icon (PNG, 8-bit) with the package's objective
(:func:`vischange.render.whitened_direction_cossim`).

    .venv/bin/python benchmarks/icon_recipes.py --results /work/d2/results/demo \\
        --config /work/d2/config/config.yaml --layer layer4.1 --cells 6

Writes a CSV (--out-csv: one row per network, cell and recipe) and a figure with the old
icons over lucid's (--figure).
"""

from __future__ import annotations

import argparse
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
from vischange.atlas import stages  # noqa: E402
from vischange.paths import Layout  # noqa: E402
from vischange.render import whitened_direction_cossim  # noqa: E402
from vischange.runtime import read_npz, write_csv, write_npz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
NETS = ("base", "finetuned")
# name: (atlas.icons.objective, atlas.icons.transforms)
RECIPES = {"old": ("mean", "standard"), "lucid": ("center", "atlas")}


def load_config(path: Path) -> dict:
    """The run's config with the schema's defaults filled in, as the workflow sees it."""
    config = yaml.safe_load(path.read_text())
    validate(config, str(SCHEMA))
    return config


def pick_cells(atlas_dir: Path, n: int) -> pd.DataFrame:
    """The ``n`` filled cells of the main atlas with the most samples (ties: row, col).
    Returns their rows of ``cells.csv``."""
    cells = pd.read_csv(atlas_dir / "cells.csv", keep_default_na=False, na_values=[""])
    cells = cells[cells.filled.astype(bool)]
    return cells.sort_values(["count", "row", "col"], ascending=[False, True, True]).head(n).reset_index(drop=True)


def subset_directions(directions: Path, cells: pd.DataFrame, out: Path) -> dict:
    """Write the run's ``directions.npz`` restricted to the main atlas's ``cells``, in
    their order, to ``out`` (the file :func:`stages.icons_stage` reads). Returns it."""
    todo = read_npz(directions)
    index = []
    for r, c in zip(cells.row, cells.col):
        hit = np.flatnonzero((todo["atlas"] == stages.MAIN) & (todo["row"] == r) & (todo["col"] == c))
        if len(hit) != 1:
            raise ValueError(f"{directions}: {len(hit)} icons for cell ({r}, {c}) of the main atlas")
        index.append(int(hit[0]))
    subset = {k: (v if k == "whitening" else v[index]) for k, v in todo.items()}
    write_npz(out, subset)
    return subset


def sample_cosines(atlas_dir: Path, cells: pd.DataFrame, todo: dict) -> np.ndarray:
    """Reference for the icons' cosines: per cell, the median whitened cosine between the
    cell's own dataset samples (``activations.npz``, one position per image) and the cell's
    direction. (M,) in the order of ``cells``."""
    acts = read_npz(atlas_dir / "activations.npz")["acts"]  # (N, C)
    lay = pd.read_csv(atlas_dir / "layout.csv")
    white = acts @ todo["whitening"].T  # (N, C): W a
    out = []
    for (r, c), u in zip(zip(cells.row, cells.col), todo["vectors"]):
        mine = white[lay["sample"][(lay.row == r) & (lay.col == c)].to_numpy()]
        out.append(np.median(mine @ u / (np.linalg.norm(mine, axis=1) * np.linalg.norm(u) + 1e-12)))
    return np.array(out)


def read_icons(table: Path) -> torch.Tensor:
    """The icons listed in an icons_stage table, (M, 3, size, size) in [0, 1], in table order."""
    frame = pd.read_csv(table)
    folder = table.with_suffix("")
    return torch.stack([
        torch.from_numpy(np.array(Image.open(folder / f).convert("RGB"))).permute(2, 0, 1) for f in frame.file
    ]).float() / 255.0


def both_objectives(model, normalize, layer: str, images: torch.Tensor, todo: dict, cossim_pow: float) -> dict:
    """dot x cos^n of each icon against its cell's direction, at the centre neuron and
    averaged over the map, and the whitened cosine at the centre and averaged over the map:
    {"center", "mean", "cosine_center", "cosine_mean"}: (M,) numpy arrays each."""
    acts = image_activations(model, layer, images, normalize=normalize, reduce="none")  # (M, C, h, w)
    vectors = torch.from_numpy(todo["vectors"])
    whitening = torch.from_numpy(todo["whitening"])
    with torch.no_grad():
        out = {pos: whitened_direction_cossim(layer, whitening, vectors, cossim_pow, pos)({layer: acts}).numpy()
               for pos in ("center", "mean")}
        # The cosine alone (in whitened space, unclamped), to see how far each icon turns
        # its activation toward the cell: dot x cos^n is small when cos sits near lucid's 0.1 clamp.
        white = torch.einsum("dc,nchw->ndhw", whitening, acts)  # (M, C, h, w)
        cos = torch.nn.functional.cosine_similarity(white, vectors[:, :, None, None], dim=1)  # (M, h, w)
        out["cosine_center"] = cos[:, cos.shape[1] // 2, cos.shape[2] // 2].numpy()
        out["cosine_mean"] = cos.mean(dim=(1, 2)).numpy()
    return out


def figure(rows: pd.DataFrame, work: Path, out: Path, settings: dict, layer: str) -> None:
    """Per network, the old recipe's icons over lucid's, one column per cell; titles give
    the cell, its top class, and dot x cos^n (with the whitened cosine) at the centre
    neuron and averaged over the map."""
    nets = [n for n in NETS if n in set(rows.net)]
    n_cells = rows.groupby("net").size().max() // len(RECIPES)
    fig, axes = plt.subplots(len(RECIPES) * len(nets), n_cells,
                             figsize=(1.7 * n_cells, 2.3 * len(RECIPES) * len(nets)), squeeze=False)
    for i, net in enumerate(nets):
        for k, recipe in enumerate(RECIPES):
            part = rows[(rows.net == net) & (rows.recipe == recipe)].reset_index(drop=True)
            for j, row in part.iterrows():
                ax = axes[len(RECIPES) * i + k, j]
                ax.imshow(Image.open(work / net / recipe / row.file).convert("RGB"))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"({row.row},{row.col}) {row.top_class}\nsamples' cos {row.sample_cosine:.2f}\n"
                             f"centre {row.objective_center:.2g} (cos {row.cosine_center:.2f})\n"
                             f"mean {row.objective_mean:.2g} (cos {row.cosine_mean:.2f})", fontsize=6)
                if j == 0:
                    objective, transforms = RECIPES[recipe]
                    ax.set_ylabel(f"{net}\n{recipe}:\n{objective}, {transforms}", fontsize=7)
            for j in range(len(part), n_cells):
                axes[len(RECIPES) * i + k, j].axis("off")
    title = (f"Demo atlas icons of {layer}, the same cells: old recipe (mean, standard transforms) over "
             f"lucid's (centre neuron, atlas transforms); {settings['size']} px, {settings['steps']} steps; "
             "titles: cell (row, col), top class, median whitened cosine of the cell's dataset samples with its "
             "direction; the icon's dot x cos^n (its whitened cosine) at the centre and averaged over the map")
    fig.suptitle(textwrap.fill(title, width=int(24 * n_cells)), fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=140)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results/demo"), help="the run's results/{experiment}")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="the run's config")
    parser.add_argument("--layer", default="layer4.1")
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    parser.add_argument("--cells", type=int, default=6, help="most populated filled cells of the main atlas")
    parser.add_argument("--steps", type=int, default=None, help="default: the run's atlas.icons.steps")
    parser.add_argument("--size", type=int, default=None, help="default: the run's atlas.icons.size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, default=ROOT / "results/benchmarks/icon_recipes",
                        help="where the icon PNGs and tables go")
    parser.add_argument("--out-csv", type=Path, default=ROOT / "benchmarks/icon_recipes.csv")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/demo_icons_before_after.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    config = load_config(args.config)
    base = dict(config["atlas"]["icons"])
    base.update({k: v for k, v in (("steps", args.steps), ("size", args.size)) if v is not None})
    layout = Layout(str(args.results))
    manifest = layout.data("train")  # what atlas_icons reads (atlas.smk: input.manifest)
    frames = []
    for net in args.nets:
        atlas_dir = Path(layout.atlas(net, args.layer))
        cells = pick_cells(atlas_dir, args.cells)
        todo = subset_directions(atlas_dir / "directions.npz", cells, args.work / net / "directions.npz")
        cells["sample_cosine"] = sample_cosines(atlas_dir, cells, todo)
        model, normalize, _ = models.load_network(layout.model(net), device)
        # The run's own icons (lucid's recipe, if the run used the defaults): a check that
        # the rerender reproduces them.
        run_icons = pd.concat([pd.read_csv(t) for t in sorted((atlas_dir / "icons").glob("*.csv"))])
        run_icons = run_icons[run_icons.atlas == stages.MAIN].set_index(["row", "col"])["objective"]
        for recipe, (objective, transforms) in RECIPES.items():
            settings = {**base, "objective": objective, "transforms": transforms}
            table = args.work / net / f"{recipe}.csv"
            start = time.perf_counter()
            stages.icons_stage(layout.model(net), manifest, args.work / net / "directions.npz", layer=args.layer,
                               shard=0, shards=1, settings=settings, seed=config["seed"], device=device,
                               out_table=table, out_dir=table.with_suffix(""))
            seconds = time.perf_counter() - start
            frame = pd.read_csv(table)
            values = both_objectives(model, normalize, args.layer, read_icons(table), todo, settings["cossim_pow"])
            frame.insert(0, "net", net)
            frame.insert(1, "recipe", recipe)
            frame["icon_objective"] = frame.pop("objective")  # the recipe's own, on the float image
            frame["objective_center"] = values["center"]
            frame["objective_mean"] = values["mean"]
            frame["cosine_center"] = values["cosine_center"]
            frame["cosine_mean"] = values["cosine_mean"]
            frame["run_objective"] = [run_icons.get((r, c), np.nan) for r, c in zip(frame.row, frame.col)]
            frame = frame.merge(cells[["row", "col", "count", "top_class", "label", "sample_cosine"]],
                                on=["row", "col"], how="left")
            frame["seconds"] = seconds / len(frame)
            frame["size"], frame["steps"] = settings["size"], settings["steps"]
            frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    write_csv(args.out_csv, rows)
    figure(rows, args.work, args.figure, base, args.layer)
    print(rows.drop(columns=["file"]).to_string(index=False))
    print(rows.groupby(["net", "recipe"])[["icon_objective", "objective_center", "objective_mean", "cosine_center",
                                          "cosine_mean", "sample_cosine"]].median().to_string())


if __name__ == "__main__":
    main()
