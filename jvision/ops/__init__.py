"""Pure array functions with no parameters: boxes, NMS, RoI ops, instance masks, anchors, unpooling, image ops.

``jvision.ops.rle`` (COCO run-length encoding, host-side numpy) is imported by name, not re-exported.
"""

from jvision.ops.anchors import (anchor_grid, ssd_default_boxes, yolo_cell_grid, yolo_cell_index,
                                 yolo_decode_boxes, yolo_encode_boxes)
from jvision.ops.boxes import (box_area, box_iou, clip_boxes, convert_boxes, cxcywh_to_xyxy, decode_boxes,
                               encode_boxes, generalized_box_iou, xywh_to_xyxy, xyxy_to_cxcywh, xyxy_to_xywh)
from jvision.ops.masks import mask_targets, paste_masks
from jvision.ops.matching import BACKGROUND, IGNORE, gather_matched, match_anchors
from jvision.ops.nms import batched_nms, gather_kept, nms
from jvision.ops.roi import fpn_levels, multilevel_roi_align, roi_align, roi_pool
