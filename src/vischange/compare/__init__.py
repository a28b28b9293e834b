"""The comparison stage: gray filter (`gray`), render features and pair similarities
(`features`), per-channel scores, noise floor and summaries (`stats`), and its
figures (`figures`)."""

from .features import (  # noqa: F401
    FeatureNet,
    channel_pairs,
    compare_features,
    cosine,
    embed,
    gram_distance,
    gram_matrix,
    load_images,
)
from .gray import GrayCut, gray_score, gray_table, spike_cut  # noqa: F401
from .stats import channel_table, gram_table, is_fine_tuned, layer_summary, noise_floor, summary  # noqa: F401
