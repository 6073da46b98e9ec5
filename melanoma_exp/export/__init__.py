"""Registry and export: from an MLflow run to the model bundle (contract 4).

`bundle.export_bundle` turns a Keras model into the bundle folder; `registry` registers, promotes
and exports registered versions; `tiny_bundle` builds a small real bundle for tests and demos.
TensorFlow and MLflow are imported inside functions so `melanoma --help` stays instant.
"""
