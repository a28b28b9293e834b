"""Domain shift: do a class's top feature maps still find the object when accuracy collapses?

The feature-map article's fourth and fifth questions, asked across domains: the network
fine-tuned on one domain (the source: the fine-tuning task's own test split) is shown a
second test set of the same classes from another domain (the target: X-ray scans for a
model of web photos; in the demo the same test scenes rendered as gray radiographs by
:mod:`vischange.datasets.synthetic`'s ``xray`` style). For each network (base with its
linear probe, fine-tuned with its own head: the task head files the attribution stage
writes, read with :mod:`vischange.heads`):

* the classifier's accuracy, confusion matrix and per-class recall on both domains
  (:func:`vischange.metrics.accuracy_table`, :func:`vischange.metrics.confusion`);
* the class top maps the topmaps stage chose on the *source* training split (its
  top_maps.csv and activations.npz), summed (:mod:`vischange.class_maps`) into one-vs-rest detectors whose threshold is chosen on the *source* validation
  split, evaluated on the source test split and on the target domain, beside the
  classifier's own AUC, precision and recall there (:func:`.shift.cross_domain_detector`);
* one top map per class overlaid on images of its class in both domains, on one
  brightness scale per class (:func:`.shift.overlays`): does the map still fire on the object?

Nothing is refitted on the target domain: its labels are used only to score.

Modules:

* :mod:`.shift` -- source against target: the cross-domain detector table and the overlays.
* :mod:`.stages` -- the workflow's domain rules, one function each (target data, scan,
  summary, comparison of the networks).
* :mod:`.figures` -- confusion matrices, detector, overlay and comparison figures.
"""
