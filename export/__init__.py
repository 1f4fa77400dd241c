"""Export trained torch models to ONNX (and TensorRT), with parity checks."""
