"""Data for the course: user tables (``tables``), packaged real data sets (``real``) and seeded
generators (``synth``). Light to import: pandas and friends load inside the functions."""
