"""From run folders to the paper's tables and figures.

- ``collect``: ``pau-collect``, one tidy table of runs (``results/runs.csv``).
- ``tables``: ``pau-tables``, Tables 2-5 beside the published numbers (``results/tables/``).
- ``figures``: ``pau-figures``, training curves and learned activations (``results/figures/``).
"""
