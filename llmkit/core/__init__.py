"""Shared machinery every stage uses; imports nothing from the stages.

* ``config``   profiles (smoke / lesson / full), seeds, run folders: ``by_profile``, ``set_seed``, ``new_run_dir``
* ``settings`` a stage's per-profile sizes as a dataclass: ``ProfileSettings.for_profile``, ``per_profile``
* ``io``       the cache folder, cache keys, atomic writes and one cache-or-build: ``cache_dir``, ``cache_key``,
  ``atomic_write_text``, ``atomic_file``, ``atomic_folder``, ``cached_folder``
* ``locks``    one builder per cache entry across processes (``flock`` on ``<key>.lock``): ``acquire``,
  ``release``, ``build_lock``
* ``hardware`` device, the one bf16 policy and threads: ``device``, ``bf16_supported``, ``autocast``,
  ``train_dtype``, ``set_threads``, ``thread_count``
* ``machine``  this machine's limits, measured: ``describe``, ``matmul_gflops``
* ``params``   the one parameter counter: ``parameter_count``
* ``batches``  inference batches longest first, rows given back in order: ``longest_first``
* ``timing``   one timer: ``median_ms``, ``alternate`` (candidates timed in alternating rounds), ``Rounds``
* ``evaluate`` metrics, intervals and the shared plots: ``classification_metrics``, ``bootstrap_interval``,
  ``plot_loss_curves``, ``read_scalars``
* ``errors``   ``LlmkitError`` (one line, names what was wrong) and ``ClaimFailed``
"""
