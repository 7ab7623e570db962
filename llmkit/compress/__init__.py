"""Notebook 06, 模型压缩与加速 (compression and acceleration): one classifier run six ways, on one map.

* ``settings``  ``CompressSettings.for_profile``: the notebook's per-profile sizes
* ``precision`` ``Variant``, ``fp32_variant``, ``bf16_variant``
* ``int8``      ``quantize_int8``, ``save_int8``, ``load_int8``
* ``ort``       ``save_onnx``, ``quantize_onnx``, ``load_onnx``
* ``pruning``   ``prune_encoder``
* ``lineup``    ``build_variants``, ``time_variants``, ``logit_agreement``
* ``frontier``  ``pareto_front``, ``plot_pareto``
"""
