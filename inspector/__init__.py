"""Inspector: edge visual quality inspection (the runtime: onnxruntime, OpenCV, numpy)."""

__version__ = "0.1.0"
