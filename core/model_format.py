"""Names inside an exported FewLens model: shared by the Recognizer and the exporter.

Apart from both so that the exporter needs nothing from ``core.recognizer`` at run time
(the Recognizer calls the exporter).
"""

FORMAT_VERSION = 1
#: metadata_props keys of an exported ONNX model
METADATA_KEY = "fewlens"
HEAD_KEY = "fewlens_head"
INPUT_IMAGES = "images"
OUTPUT_PROBS, OUTPUT_TOP, OUTPUT_EMBEDDING = "probs", "top", "embedding"
#: the resize filter of core.preprocess.resize_center_crop, as the contract names it
RESAMPLE = "PIL.Image.BILINEAR, reducing_gap=None (antialiased)"
