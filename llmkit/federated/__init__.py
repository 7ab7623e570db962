"""Notebook 07, 联邦学习 (federated learning): hospitals train one model on Flower without pooling their data.

* ``settings``   ``FederatedSettings.for_profile``: the notebook's per-profile sizes
* ``hospitals``  ``load_note_federations``, ``load_pima_federations``, ``dirichlet_partition``
* ``simulation`` ``fedavg_by_hand``, ``client_app``, ``server_app``, ``simulate``
* ``runtime``    ``use_thread_backend``, ``MessageLog``, ``start_superlink``, ``flwr_run``
* ``privacy``    ``GaussianAccountant``, ``gdp_epsilon``
* ``flower_app/`` the same apps for ``flwr run``
"""
