"""Detection data: where a source's files and official splits are (`layouts`), reading VOC, COCO, YOLO and scenes
into one representation (`formats`), resizing images with their boxes (`transforms`), and the images a run
trains and tests on (`splits`)."""
