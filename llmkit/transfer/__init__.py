"""Notebook 04, 迁移学习 (transfer learning): how many labels pretraining, DAPT and LoRA save.

* ``settings`` ``TransferSettings.for_profile``: the notebook's per-profile sizes
* ``adapt``  ``domain_adapt`` (continued masked-LM pretraining on unlabeled notes), ``DaptConfig.for_profile``
* ``lora``   ``add_lora``, ``build_random_classifier``
* ``curves`` ``train_point``, ``probe_point``, ``summarize``, ``plot_data_efficiency``
"""
