"""Clinical-grade evaluation (issue 7): operating point, calibration, subgroups, phone-photo
robustness, out-of-distribution check, grouped k-fold, ensembles and test-time augmentation.

Import the submodules you need; this package imports nothing heavy so the CLI and the config code
can reach it without starting TensorFlow (only `ensemble` and the Keras helpers import Keras at import
time; `tta` imports it when a Keras function is called, so the config check can read its names).
"""
