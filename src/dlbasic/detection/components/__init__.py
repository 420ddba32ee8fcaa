"""One-job parts the detectors are assembled from: matcher and sampler, selective search, the region proposal
network, the RoI heads and the small backbones. They stand on `detection.ops`."""
