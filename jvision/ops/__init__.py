"""Pure array functions with no parameters: boxes, NMS, RoI ops, anchors, unpooling, image ops."""
