r"""The class-map X-ray CNN trained to look at the findings: a classifier whose evidence is known, for Latent Shift.

    python -m jvision.train --config experiments/xray_cnn_evidence.py --workdir runs/xray_cnn_evidence

``experiments/xray_cnn_class_map.py`` plus the "right for the right reasons" penalty of Ross et al. (IJCAI
2017; ``MultiLabelTask(evidence_weight=...)``): for every finding present in a training image, the share of
its logit's input gradient that lies outside the finding's mask is added to the loss (weight 1). Left to
itself the classifier finds a bright disc by its contrast with the surroundings, so its gradient over the
neighbourhood sums to about zero and any explanation of it lights up the surroundings as much as the finding
(``experiments/xray_explain.py``). With the penalty, where the classifier looks is known, which is what
testing an explanation method needs.

The penalty is that share of |d logit / dx| (``jvision.tasks.multilabel.evidence_penalty``), not Ross et
al.'s squared gradient: trained with the squared gradient (weight 100, in development), the
network shrank its input gradient everywhere, and the share of it inside the Mass mask did not rise.

Measured (seed 0, 1,000 steps, 786 s of training on the shared 2-core CPU; each step takes one backward pass
per pathology more): mean ROC AUC 0.971, mean PR AUC 0.957; Cardiomegaly 0.9991, Effusion 0.9793, Nodule
0.9204, Mass 0.9910, Consolidation 0.9626 (the class-map CNN without the penalty: 0.957). The penalty (the
mean share outside the masks) fell from 0.93 at step 50 to 0.52 at step 1,000. With the masks grown by one
pixel (``--config.task.evidence_margin=1``): mean AUC 0.972 (739 s), Latent Shift slightly less local (0.461
inside the Mass mask against 0.498); with that and ``--config.task.evidence_weight=5``: mean AUC 0.949 (763
s) and no more local.
"""

from jvision import config as config_lib


def get_config():
  config = config_lib.sibling_experiment(__file__, "xray_cnn_class_map.py").get_config()
  config.task.evidence_weight = 1.0
  config.task.evidence_margin = 0
  return config
