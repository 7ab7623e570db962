"""Seeded generators of synthetic data sets, one module per domain.

* ``clinical_notes`` -- clinical notes for diabetes detection (the healthcare case study; notebooks 03 and
  04): a labeled task with a documented label rule and noise rate, paraphrase families that can be held
  out of training, and an unlabeled corpus for pretraining generated on demand.
* ``maintenance`` -- milling-machine runs for predictive maintenance (the manufacturing case study): sensors,
  technicians' notes and failures from documented mechanisms, with the best achievable PR-AUC known exactly.
* ``committed`` -- the one way a generated data set is written under ``data/`` (atomically) and found again
  (the committed file, else a copy regenerated once into the cache).

Every generator is deterministic in its seed (byte-identical output, independent of ``PYTHONHASHSEED``)
and imports pandas only inside its functions, so importing this package is cheap.
"""
