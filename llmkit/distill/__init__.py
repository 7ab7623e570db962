"""Notebook 05, 知识蒸馏 (knowledge distillation): Hinton et al.'s digits experiment, then MiniLM into a tiny BERT.

* ``digits``  ``load_digits_split``, ``build_mlp``, ``train_mlp``, ``test_errors``
* ``hinton``  ``hinton_table``, ``temperature_sweep``
* ``kdtrain`` ``teacher_logits``, ``distill_classifier``
* ``student`` ``recipe``, ``build_student``, ``pretrain_student``, ``distilled_student`` (cached)
"""
