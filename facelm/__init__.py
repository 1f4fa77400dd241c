"""facelm runtime: facial motion as a language (numpy + onnxruntime + rclpy, never torch)."""

__version__ = "0.1.0"
