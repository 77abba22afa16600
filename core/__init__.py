"""FewLens engine: images -> embeddings -> few-shot adaptation -> predictions.

Never imports Qt; the GUI lives in ``app/``.  Torch is imported lazily so the
CPU inference path (ONNX Runtime + NumPy heads) works without it.
"""

__version__ = "0.1.0"
