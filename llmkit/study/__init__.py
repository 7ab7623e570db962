"""The case studies (``notebooks/case_studies/``) and the analyst engine behind them.

* ``settings``   ``StudySettings.for_profile`` (healthcare), ``AnalystSettings.for_profile`` (the engine's sizes)
* ``healthcare`` ``load_study``, ``compare_modalities``, ``stage_row``, ``pima_comparison`` (healthcare_diabetes)
* ``fusion``     ``compare`` (text, vitals and late fusion)

The analyst engine (finance_credit_risk, transport_demand, and any table):

* ``engine``     ``prepare`` (read, type, split) -> ``run`` (every stage that applies) -> ``Analysis.table``;
                 ``seasonal_naive`` (the same time one season before, ``run(season_lag=...)``)
* ``schema``     ``infer_schema``: every column's role, the task; ``values``: how one column's values are read
* ``splits``     ``assign_splits``: stratified, random, chronological, grouped or given
* ``tabular``    ``floors``, ``tabular_models``, ``text_model`` (scikit-learn)
* ``textstages`` MiniLM on text, records as text, fusion, the student cut from the teacher, the int8 bundle
* ``stages``     ``Prepared`` and ``Result``, what the stages share
* ``scoring``    ``score`` with bootstrap intervals, ``difference``, ``ratio``, ``stage_table``, ``format_table``
* ``decisions``  ``decision_cost``, ``cost_threshold``, ``calibration`` (what a threshold costs a lender)
"""
