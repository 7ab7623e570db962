"""The case studies (``notebooks/case_studies/``) and the analyst path into them.

* ``settings``   ``StudySettings.for_profile``: the case study's per-profile sizes
* ``healthcare`` ``load_study``, ``compare_modalities``, ``stage_row``, ``pima_comparison``
* ``fusion``     ``compare`` (text, vitals and late fusion)
"""
