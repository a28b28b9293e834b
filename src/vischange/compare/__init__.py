"""The comparison stage: gray filter (`gray`), render features and pair similarities
(`features`), per-channel scores, noise floor and summaries (`stats`), and its
figures (`figures`). Names load on first use: only `features` needs torch."""

from ..lazy import lazy_exports

_EXPORTS = {
    ".features": ["FeatureNet", "channel_pairs", "compare_features", "cosine", "embed", "gram_distance", "gram_matrix", "load_images"],
    ".gray": ["GrayCut", "gray_score", "gray_table", "spike_cut"],
    ".stats": ["channel_table", "gram_table", "is_fine_tuned", "layer_summary", "noise_floor", "summary"],
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [name for names in _EXPORTS.values() for name in names]
