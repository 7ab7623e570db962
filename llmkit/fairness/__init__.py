"""Fairness and transparency (公平性与透明性, seed §8.3-8.4): notebook ``10_fairness_transparency``.

Public verbs, by module:

* :mod:`~llmkit.fairness.audit` -- ``group_table`` (fairlearn ``MetricFrame``: selection rate, TPR, FPR, accuracy per
  group), ``rate_intervals``, ``disparity_table`` (demographic parity and equalized odds, differences and ratios, bootstrap intervals),
  ``fairlearn_disparities``, ``calibration_by_group``, ``calibration_error_by_group``;
* :mod:`~llmkit.fairness.tables` -- ``load_hmda``, ``load_credit``, ``split_table``, ``fit_logistic``,
  ``permutation_importance``;
* :mod:`~llmkit.fairness.planted` -- ``train_and_predict`` (a planted documentation bias, found), ``documented_gap``;
* :mod:`~llmkit.fairness.mitigate` -- ``threshold_optimizer``, ``exponentiated_gradient``, ``tradeoff_row``;
* :mod:`~llmkit.fairness.attribution` -- ``integrated_gradients``, ``occlusion``, ``deletion_drops``,
  ``highlight_html``;
* :mod:`~llmkit.fairness.card` -- ``card_section`` (the model card's fairness section: groups, sizes, rates and
  disparities with intervals, small groups flagged), ``section_table``, ``summary``, ``groups_of``;
* :mod:`~llmkit.fairness.settings` -- ``FairnessSettings``.

It sits beside ``study`` (layer 6) because the intervals reuse :func:`llmkit.study.scoring.resample_counts`.
"""
