"""The reproduction framework (``pip install "pau[repro]"``): data, training, pruning, analysis.

The library (``pau`` outside this package) never imports it.
"""
