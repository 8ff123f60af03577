"""Image-folder datasets (one subfolder per class), detection datasets (COCO, YOLO, VOC boxes) and the demo
datasets."""

from edgeimpro.datasets.detection import (
    AnnotatedImage,
    Box,
    DetectionDataset,
    DetectionReport,
    LoadedDetection,
    Problem,
    centroid_grid,
    grid_shape,
    load_detection,
    read_detection,
)
from edgeimpro.datasets.folder import ImageFolder, LoadedImages, load_images, scan_image_folder, split_items

__all__ = ["AnnotatedImage", "Box", "DetectionDataset", "DetectionReport", "ImageFolder", "LoadedDetection",
           "LoadedImages", "Problem", "centroid_grid", "grid_shape", "load_detection", "load_images",
           "read_detection", "scan_image_folder", "split_items"]
