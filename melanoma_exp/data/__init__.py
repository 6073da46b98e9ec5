"""The data layer: raw isic-cli layout (synthetic or downloaded) -> prepared shards -> tf.data.

Modules: `layout` (contract 1 and its checks), `synth` (synthetic generator), `isic` (isic-cli
download wrapper), `prepare` (contract 2), `split` (grouped stratified splits), `imageops` (the one
decode/crop/resize), `shards` (record format), `pipeline` + `augment` (training input), `cli`.
Nothing here imports TensorFlow at module import time except through functions that need it.
"""
