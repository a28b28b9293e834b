"""The classic views of what a classifier looks at, for one network on the fine-tuning task.

* Task head (:func:`.stages.task_head`): the classifier whose decisions the views explain.
  The fine-tuned network has its own head for the fine-tuning task. The base network's head
  predicts the *base* task's classes, so for it a linear probe is fitted on its frozen
  penultimate features (multinomial logistic regression on the standardized pooled
  features of the training split, sklearn, deterministic), and folded into one
  ``nn.Linear``: the base network's best linear reading of the new task, so both networks
  are judged on the same classes.
* Attributions (Captum): saliency (the absolute input gradient of the class logit,
  maximum over colour channels) and Grad-CAM at a layer (ReLU of the gradient-weighted
  sum of its maps), for the predicted and the true class (:func:`.methods.attribute`).
* First-layer filter weights (:func:`.filters.filter_grid`), feature maps of one image at
  chosen layers, the confusion matrix, and a decision-boundary view: a 2-D UMAP of the
  penultimate features of the test set, coloured by true class, misclassified images
  marked, shaded by the network's prediction of the nearest test images (:mod:`.embedding`).

Modules:

* :mod:`.methods` -- saliency, Grad-CAM and the test images they explain.
* :mod:`.filters` -- the first convolution's filters as RGB tiles.
* :mod:`.embedding` -- the UMAP of penultimate features and the decision regions around it.
* :mod:`.stages` -- the workflow's attribution rules, one function each (task head, views).
* :mod:`.figures` -- filters, feature maps, attributions, embedding and confusion figures.
"""
