"""Detection data: one representation (`dataset.DetectionSet`), one module per format (`voc`, `coco`, `yolo`: where
a source's files and official splits are, and how they read), a spec read by its format or as scenes (`sources`),
images resized with their boxes (`transforms`), and the images a run trains and tests on (`splits`)."""
