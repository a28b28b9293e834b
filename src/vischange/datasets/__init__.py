"""Data: image manifests (`data/{split}.csv`) and class lists (:mod:`.files`, no torch), the
torch Dataset that reads them and its transforms (:mod:`.manifest`), and sources. Names load
on first use."""

from ..lazy import lazy_exports

_EXPORTS = {
    ".files": ["read_classes", "read_manifest"],
    ".manifest": ["ManifestDataset", "eval_transform", "train_transform"],
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [name for names in _EXPORTS.values() for name in names]
