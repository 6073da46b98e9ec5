"""Inference service for the model bundle (contract 4) behind HTTP API v1 (contract 5).

Depends only on the bundle files, numpy, Pillow, LiteRT and FastAPI: never on TensorFlow, Keras or
the training package, so the Lambda image stays small and starts fast.
"""
