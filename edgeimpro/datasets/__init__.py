"""Image-folder datasets (one subfolder per class) and the demo datasets."""

from edgeimpro.datasets.folder import ImageFolder, LoadedImages, load_images, scan_image_folder, split_items

__all__ = ["ImageFolder", "LoadedImages", "load_images", "scan_image_folder", "split_items"]
