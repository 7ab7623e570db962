"""Notebook 05, 知识蒸馏 (knowledge distillation): Hinton et al.'s digits experiment, then MiniLM into a tiny BERT.

* ``settings`` ``DistillSettings.for_profile``: the notebook's per-profile sizes; ``DistillRecipe``, the
  teacher's and student's (06 and 08 build on it)
* ``digits``  ``load_digits_split``, ``build_mlp``, ``train_mlp``, ``test_errors``
* ``hinton``  ``hinton_table``, ``temperature_sweep``
* ``kdtrain`` ``teacher_logits``, ``distill_classifier``
* ``student`` ``build_student``, ``pretrain_student``, ``distilled_student`` (cached)
"""
