"""Camera sources: a device, a video file or a folder of images, behind one interface."""
