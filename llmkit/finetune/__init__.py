"""Notebook 03, 微调 (fine-tuning): a pretrained MiniLM fine-tuned on labeled notes, and the seed's §5.2 code.

* ``settings``   ``FinetuneSettings.for_profile``: the notebook's per-profile sizes
* ``tasks``      ``load_task``, ``subsample``, ``encode_task``
* ``batching``   ``encode``, ``collator``, ``length_grouped_batches``, ``TokenDataset``
* ``loop``       ``train_classifier`` (the explicit loop), ``predict_proba``, ``finetuned_minilm`` (the cached teacher)
* ``trainer``    ``train_with_trainer`` (the same with transformers' Trainer)
* ``seedcode``   ``seed_code``, ``seed_fixes``, ``run_seed_code``
* ``baselines``  ``tfidf_logreg``, ``linear_probe``
* ``throughput`` ``classifier_flops``, ``compare`` (padding), ``bf16_supported``
"""
