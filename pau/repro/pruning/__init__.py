"""Lottery-ticket pruning of the convolutions (section 4.4, Appendix A.4.3, Fig. 4).

    graph = analyze(model, (3, 32, 32))          # which filters can go, which are tied
    plan = select_filters(trained, graph, {}, 20)   # the lowest-sum 20% of every convolution
    apply_plan(initial_copy, graph, plan)        # remove (or mask) them, in place
    result = prune(cfg)                          # the whole experiment: pau-prune
"""
from .config import PruneConfig, PruningConfig, register_configs
from .graph import ChannelGraph, ConvInfo, analyze
from .run import COLUMNS, build_pruned, prune
from .surgery import (
    apply_plan,
    copy_pruned,
    count_parameters,
    effective_weight,
    filter_scores,
    inference_ms,
    make_permanent,
    masked_modules,
    select_filters,
    stored_parameters,
)

__all__ = [
    "COLUMNS",
    "ChannelGraph",
    "ConvInfo",
    "PruneConfig",
    "PruningConfig",
    "analyze",
    "apply_plan",
    "build_pruned",
    "copy_pruned",
    "count_parameters",
    "effective_weight",
    "filter_scores",
    "inference_ms",
    "make_permanent",
    "masked_modules",
    "prune",
    "register_configs",
    "select_filters",
    "stored_parameters",
]
