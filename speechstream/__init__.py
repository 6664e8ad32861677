"""speechstream: streaming speech recognition, synthesis and conversion whose streaming output equals offline.

Importing this package never imports torch: the deployed runtime needs numpy and onnxruntime only.
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: `speechstream.Recognizer` without importing onnxruntime up front
    if name == "Recognizer":
        from speechstream.asr.recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module 'speechstream' has no attribute {name!r}")
