"""Development-side code: corpus composition and annotation, datasets, training, evaluation.

Run stages from a checkout as ``python -m training.<stage> --help``. Unlike the
runtime package ``facelm``, modules here may import torch.
"""
