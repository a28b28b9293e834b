"""Rules topmaps_figures and attribution_figures: per-network figures (PNG) side by side in one figure each.

Each named output (PNG, PDF) is drawn from the input of the same name; titles,
suptitles and panels per row come from params, keyed by that name.
"""
import numpy as np
from PIL import Image

from vischange import plots
from vischange.runtime import start_job

start_job(snakemake)
for name, files in snakemake.output.items():
    panels = [np.asarray(Image.open(path).convert("RGB")) for path in snakemake.input[name]]
    plots.image_panels(panels, snakemake.params.titles[name], snakemake.params.suptitles[name], list(files),
                       columns=snakemake.params.columns[name])
