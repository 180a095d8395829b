"""Region proposals: selective search (Uijlings et al., IJCV 2013) and a per-dataset proposal cache.

``selective_search(image)`` gives ranked (x1, y1, x2, y2) pixel boxes for one uint8 image
(``jvision.proposals.grouping``). Proposals are computed once per dataset split and cached next to the
TFDS dataset (``jvision.proposals.cache``): ``python -m jvision.proposals --dataset shapes/multi --split train``
writes the cache, ``load_proposals`` reads it back as padded arrays with a validity mask, looked up by
``image_id``, and ``proposals_to_model_input`` maps them through the pipeline's ``resize_and_pad``. ``with_proposals`` attaches
them to a data source as each example's ``proposals`` field (``jvision.proposals.source``; the trainer does it
when ``config.data.proposals`` is set).
"""

from jvision.proposals.grouping import MODES, selective_search
from jvision.proposals.cache import (Proposals, cache_path, compute_proposals, load_proposals,
                                     proposals_to_model_input, read_proposals, write_proposals)
from jvision.proposals.source import attach_cached_proposals, parse_split, with_proposals
