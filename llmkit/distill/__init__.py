"""Notebook 05, 知识蒸馏 (knowledge distillation): Hinton et al.'s digits experiment, then MiniLM into a tiny BERT.

* ``settings`` ``DistillSettings.for_profile``: the notebook's per-profile sizes; ``DistillRecipe``, the
  teacher's and student's (06 and 08 build on it)
* ``digits``  ``load_digits_split``, ``build_mlp``, ``train_mlp``, ``test_errors``
* ``hinton``  ``hinton_table``, ``temperature_sweep``
* ``kdtrain`` ``teacher_logits``, ``distill_classifier``
* ``student`` ``build_student``, ``pretrain_student``, ``distilled_student`` (cached)
* ``shrink``  ``student_from_teacher`` (the teacher with fewer layers, DistilBERT's recipe), ``shrunk_student``
  (cached; for small real tables), ``compare_models`` (retention and speed-up), ``ShrinkSettings``
"""
