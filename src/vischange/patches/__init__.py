"""Atlas patches: do the concepts an atlas ties to a class really steer the classifier?

The activation-atlas article's experiment, for each network and each two-class
comparison ``pair/{a}_vs_{b}`` of ``atlas.class_pairs``: take the cells whose
activations the atlas ties most to one class (the *target* T), render them as small
patches, paste them onto test images of the other class (the *source* S), and count how
often the network's prediction flips to T, against patches that carry no concept.

Which images each network is tested on (its classes are its own): the fine-tuned
network on the fine-tuning task's test split (``data/test.csv``); the base network,
when it was pretrained here on the synthetic base task (``model.base.source:
pretrain``), on that task's test split (``data/base/test.csv``). With torchvision or
file weights there is no test set of the base network's classes (ImageNet's validation
set is not part of the workflow), so the workflow plans no base-network patches and
says why when it parses the config (workflow/rules/patches.smk).

Flip rates count only images the network classifies correctly (top-1 = S) before
pasting: an image already called T, or something else, cannot flip *to* T from S.

Modules:

* :mod:`.candidates` -- the directions of a pair and the cells that favour the target.
* :mod:`.pasting` -- patch sizes, corners, pasting and resizing.
* :mod:`.baselines` -- the seeded noise and image-crop patches that carry no concept.
* :mod:`.images` -- images as the network sees them, and the source class's test images.
* :mod:`.flips` -- flip-rate arithmetic: per-image outcomes, the best corner, summaries,
  the overview across networks.
* :mod:`.stages` -- the workflow's patch rules, one function each.
* :mod:`.figures` -- flip rates against patch size, the gallery, the overview.
"""
