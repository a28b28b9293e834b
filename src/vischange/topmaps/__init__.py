"""Per-class top feature maps (FeatureMapVisualizer's five questions), for one network.

A "map" is one channel (feature map) of the analysed layer, by default the last
convolutional block (``layer4`` of a ResNet). An image's activation of a map is the
map's spatial mean, so a layer of C maps turns N images into an (N, C) matrix.

1. Top maps per class (:func:`.selection.class_top_maps`, :func:`.selection.unique_top_maps`):
   each image's N1 most activated maps; each class's N2 maps that are most often among its
   images' top N1; then every map that also sits in another class's N2 list is removed.
2. What a top map draws (:func:`.stages.render_top_maps`): the seed's upscaling render
   (:func:`vischange.render.upscale_render`) beside the render engine's channel render.
3. Where maps fire on one image and 4. one map on many images (the maps from
   :func:`vischange.activations.image_activations`, overlaid by
   :func:`vischange.plots.mask_overlay`).
5. Are top maps unique to their class (:func:`vischange.class_maps.class_sums`,
   :func:`vischange.metrics.one_vs_rest_table`): the summed activation of a class's top
   maps as a one-vs-rest detector, its threshold chosen on the validation split, evaluated
   on the test split beside the network's own classifier.

Modules:

* :mod:`.selection` -- question 1 on an (N, C) activation matrix: each image's top maps,
  each class's list, the shared maps removed.
* :mod:`.stages` -- the workflow's top-map rules, one function each (scan, render, summary).
* :mod:`.figures` -- the figures of the five questions.
"""
