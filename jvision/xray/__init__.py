"""Chest X-ray, in the manner of torchxrayvision (Cohen et al., MIDL 2022).

- ``dataset``: ``XrayDataset`` label tables over the 18 default pathologies; relabel, rename, subset,
  filter, view filtering, merge, patient-level splits, label statistics, pairing with image files.
- ``readers``: NIH ChestX-ray14, CheXpert, MIMIC-CXR, PadChest, RSNA pneumonia and VinBigData layouts
  (``python -m jvision.xray.label_stats`` prints their label statistics).
- ``preprocess``: the XRV image convention ([-1024, 1024], one channel), crop, resize, shared augmentation.
- ``calibration``: operating points (``op_threshs``) mapped to 0.5.

The embedded synthetic data set is ``jvision.data.xray_synthetic``; the training task is
``jvision.tasks.multilabel``.
"""
