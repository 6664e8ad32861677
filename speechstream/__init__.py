"""speechstream: streaming speech recognition, synthesis and conversion whose streaming output equals offline.

Importing this package never imports torch: the deployed runtime needs numpy and onnxruntime only.
"""

__version__ = "0.1.0"
