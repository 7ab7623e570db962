"""Notebook 02, 预训练 (pretraining): a tokenizer and two small language models trained from scratch.

* ``settings``     ``PretrainSettings.for_profile``: the notebook's per-profile sizes
* ``tokenization`` ``train_wordpiece``, ``fertility``
* ``lmdata``       ``build_corpus``, ``held_out_split``, ``token_blocks``, the unigram baseline
* ``networks``     ``build_model`` (masked or causal LM), ``fill_mask``, ``generate_text``
* ``training``     ``train_lm``, ``evaluate_lm``, ``train_mlm_and_save`` (masked LM in phases, into the cache)
* ``scaling``      ``training_flops``, ``throughput``, the mini scaling study
* ``ddp``          the same training under ``torchrun`` (``python -m llmkit.pretrain.ddp``)
"""
