"""Parameter-free tensor operations on boxes: IoU and conversions (`boxes`), NMS (`nms`, with its native kernel),
the box coder and the anchor grid. RoI pooling is `dlbasic.nn.pooling`."""
