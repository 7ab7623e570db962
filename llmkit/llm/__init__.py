"""The large model itself (大模型): notebook ``09_large_language_model``, SmolLM2-135M-Instruct on a CPU.

Public verbs, by module:

* :mod:`~llmkit.llm.inside` -- ``config_in_words``, ``parameters_by_component``, the layer by hand (``rms_norm``,
  ``rope_cos_sin``, ``apply_rope``, ``causal_gqa_attention``, ``swiglu``, ``decoder_layer_by_hand``), ``layer_match``;
* :mod:`~llmkit.llm.generate` -- ``chat_ids``, ``chat_text``, ``Rule``/``RULES``, ``top_k_filter``, ``top_p_filter``,
  ``next_token_probs``, ``last_logits``, ``generate`` (a seeded loop, with or without the KV cache);
* :mod:`~llmkit.llm.speed` -- ``memory_bandwidth_gbs``, ``weight_bytes``, ``bound_tokens_per_second``,
  ``int8_dynamic``, ``bf16_copy``, ``decode_seconds``, ``prefill_seconds``, ``speed_rows``;
* :mod:`~llmkit.llm.perplexity` -- ``bits_per_byte``, ``text_chunks``, ``causal_lm_bits``, ``unigram_bits``,
  ``compressed_bits`` (gzip / lzma code lengths, alone or after other text);
* :mod:`~llmkit.llm.prompting` -- ``label_logprobs`` (zero- and few-shot by label-word log-probabilities, rows
  batched on the shared prefix's cache), ``pick_shots``, ``calibrate``, ``accuracy``, ``balanced_accuracy``;
* :mod:`~llmkit.llm.versus` -- the few-label MiniLM baselines on the same rows (``finetuned_logprobs`` by notebook
  04's rule, ``probe_logprobs``), ``scored`` (balanced accuracy with bootstrap intervals), ``difference_interval``;
* :mod:`~llmkit.llm.sft` -- ``build_instructions`` (``Example``, ``QUESTIONS``), ``encode_example`` (prompt tokens
  labelled -100), ``pad_batch``, ``answer_loss``, ``SftConfig``, ``add_lora``, ``train_sft``, ``greedy_answers``,
  ``normalize``, ``exact_match``, ``well_formed``, ``score_table``, ``gain_interval``, ``save_adapter``;
* :mod:`~llmkit.llm.cost` -- ``training_flops_6nd``, ``cost_table``, ``CostAssumptions``;
* :mod:`~llmkit.llm.settings` -- ``LlmSettings``.

Layer 5, beside ``transfer``: it compares prompting with :func:`llmkit.finetune.loop.finetuned_minilm` trained by
:func:`llmkit.transfer.curves.epochs_for` and with a linear probe, counts FLOPs with
:func:`llmkit.pretrain.scaling.matmul_params`, and trains its LoRA adapters with :func:`llmkit.finetune.loop.fit`.
"""
