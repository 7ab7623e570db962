"""The course itself: the claims ledger, the notebook runner, the command line, the map and the exercises.

* ``claims``    every number a notebook reports and every promise it tests, with its source: ``Ledger``
* ``runner``    papermill execution into a run folder and the report: ``run_course``, ``run_notebook``
* ``cli``       ``llmkit run | report | serve``
* ``outline``   the course map and its measured times (``python -m llmkit.course.outline``)
* ``exercises`` the notebooks' exercises and their checkers: ``check``
"""
