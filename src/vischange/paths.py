"""The results layout: where every artifact of one experiment lives.

One object, used by the rule files (to declare outputs) and by the library (to find
what a job reads or writes), so that no code recovers a network or a layer from a
path. Every method returns a string relative to the working directory; a Snakemake
wildcard such as ``"{net}"`` may stand in for any argument and passes through.

    results/{experiment}/
        data/ models/ renders/{net}/{layer}/ compare/ change/ atlas/{net}/{layer}/
        topmaps/{net}/ attribution/{net}/ patches/{net}/{source}__{target}/
        domain/{net}/ figures/ paper/ explorer/
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import class_atlas_id, pair_atlas_id

__all__ = ["Layout", "COMPARE", "keyed", "render_file_name", "example_file_name"]

# The comparison atlas of a layer sits where a network's folder would: atlas/compare/{layer}.
COMPARE = "compare"


@dataclass(frozen=True)
class Layout:
    """Paths of one experiment below ``root`` (``results/{experiment}``)."""

    root: str

    @classmethod
    def of(cls, experiment: str, results: str = "results") -> "Layout":
        return cls(f"{results}/{experiment}")

    def __str__(self) -> str:
        return self.root

    def stage(self, name: str) -> str:
        """A stage's folder: ``{root}/{name}``."""
        return f"{self.root}/{name}"

    # -- data and models
    def data(self, split: str, base: bool = False) -> str:
        """A split's manifest (path,label); ``base`` for the base task's."""
        return f"{self.root}/data{'/base' if base else ''}/{split}.csv"

    def classes(self, base: bool = False) -> str:
        return f"{self.root}/data{'/base' if base else ''}/classes.txt"

    def model(self, net: str) -> str:
        return f"{self.root}/models/{net}.pt"

    def train_metrics(self, net: str) -> str:
        """A fine-tuned network's training metrics: the fine-tuned network's
        ``finetune_metrics.json``, a variant's ``{net}_metrics.json``."""
        return f"{self.root}/models/{'finetune' if net == 'finetuned' else net}_metrics.json"

    # -- pairs of networks other than (base, finetuned)
    def pair(self, a: str, b: str, stage: str, name: str) -> str:
        """A table of the comparison of networks a and b: ``pairs/{a}/{b}/{stage}/{name}``
        (stage compare or change)."""
        return f"{self.root}/pairs/{a}/{b}/{stage}/{name}"

    # -- renders
    def renders(self, net: str, layer: str) -> str:
        """The folder of one network's renders of one layer (PNGs, tables, examples)."""
        return f"{self.root}/renders/{net}/{layer}"

    def render_table(self, net: str, layer: str) -> str:
        return f"{self.renders(net, layer)}/renders.csv"

    def render_png(self, net: str, layer: str, channel: int, seed: int) -> str:
        return f"{self.renders(net, layer)}/{render_file_name(channel, seed)}"

    def examples_table(self, net: str, layer: str) -> str:
        """The top dataset examples of a (network, layer): channel, rank, path, label, activation, ..."""
        return f"{self.renders(net, layer)}/examples.csv"

    def example_png(self, net: str, layer: str, channel: int) -> str:
        """One channel's top dataset examples as one strip (images over their crops)."""
        return f"{self.renders(net, layer)}/{example_file_name(channel)}"

    def render_chunk(self, net: str, layer: str, chunk: int | str) -> str:
        return f"{self.renders(net, layer)}/chunks/{chunk}.csv"

    def render_tables(self, nets, layers) -> dict[tuple[str, str], str]:
        """{(net, layer): renders.csv} for every network and layer, networks outermost."""
        return {(net, layer): self.render_table(net, layer) for net in nets for layer in layers}

    # -- atlases
    def atlas(self, net: str, layer: str, atlas_id: str = "atlas") -> str:
        """An atlas's folder: the network's main atlas, or the one named by an atlas id
        (``class/{slug}``, ``pair/{a}_vs_{b}``; see `vischange.names`)."""
        base = f"{self.root}/atlas/{net}/{layer}"
        return base if atlas_id == "atlas" else f"{base}/{atlas_id}"

    def atlas_class(self, net: str, layer: str, name: str) -> str:
        return self.atlas(net, layer, class_atlas_id(name))

    def atlas_pair(self, net: str, layer: str, a: str, b: str) -> str:
        return self.atlas(net, layer, pair_atlas_id(a, b))

    def atlas_compare(self, layer: str) -> str:
        """The comparison atlas of a layer: both networks on one layout."""
        return self.atlas(COMPARE, layer)

    # -- the browsable site
    def explorer(self) -> str:
        """The explorer's folder: a static site, self-contained (``index.html`` at its top)."""
        return f"{self.root}/explorer"

    # -- per-network stages and figures
    def net_stage(self, stage: str, net: str) -> str:
        """A per-network stage's folder: ``{root}/{stage}/{net}``."""
        return f"{self.root}/{stage}/{net}"

    def patch_dir(self, net: str, source: str, target: str) -> str:
        """One tested direction of the atlas-patch stage (slugged class names)."""
        return f"{self.root}/patches/{net}/{source}__{target}"

    def figure(self, name: str) -> list[str]:
        """A paper figure: PNG and PDF."""
        return [f"{self.root}/figures/{name}.png", f"{self.root}/figures/{name}.pdf"]


def render_file_name(channel: int, seed: int) -> str:
    """A render's file name inside its (network, layer) folder."""
    return f"c{int(channel):04d}_s{int(seed)}.png"


def example_file_name(channel: int) -> str:
    """A channel's dataset-example strip, relative to its (network, layer) render folder."""
    return f"examples/c{int(channel):04d}.png"


def keyed(keys, paths) -> dict[tuple, str]:
    """Pair each key with its path: a rule passes the keys of a dict of inputs as a param
    (lists of [net, layer] after Snakemake's serialization) and the paths as its input,
    in the same order. Returns {tuple(key): path}."""
    keys, paths = list(keys), list(paths)
    if len(keys) != len(paths):
        raise ValueError(f"{len(keys)} keys for {len(paths)} paths")
    return {tuple(k) if isinstance(k, (list, tuple)) else k: str(p) for k, p in zip(keys, paths)}
