"""Notebook 08, 推理与部署 (inference and deployment): a bundle, an HTTP service, load, and monitoring.

* ``settings``   ``DeploySettings.for_profile``: the notebook's per-profile sizes
* ``export``     ``build_bundle``, ``load_predictor``
* ``rows``       ``RowReader``: a records-as-text bundle's table rows checked and written as its training rows
* ``serve``      ``create_app``, ``start`` (``llmkit serve``)
* ``microbatch`` ``MicroBatcher``
* ``loadtest``   ``run_load``, ``malformed_requests``, ``flood``
* ``monitor``    ``read_log``, ``drift_report``
"""
