"""Export side of Inspector (torch, onnx): turns a training run into one self-describing ONNX bundle."""
