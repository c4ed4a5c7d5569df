"""Keyword taxonomy: loading, validation, jieba segmentation and query classification."""
from __future__ import annotations

import importlib

from aicity.keywords.taxonomy import (DIMENSIONS, Taxonomy, TaxonomyError, Term, default_taxonomy,
                                      load_taxonomy)

# The classifier loads jieba (a tenth of a second and more): only when it is asked for, so that
# every command reading the taxonomy does not pay for it.
_CLASSIFY = ("Classifier", "Match", "classify", "normalise", "suggest_terms")


def __getattr__(name: str):
    if name in _CLASSIFY:
        module = importlib.import_module("aicity.keywords.classify")
        globals().update({n: getattr(module, n) for n in _CLASSIFY})
        return globals()[name]
    raise AttributeError(f"module 'keywords' has no attribute {name!r}")


__all__ = ["Classifier", "DIMENSIONS", "Match", "Taxonomy", "TaxonomyError", "Term", "classify",
           "default_taxonomy", "load_taxonomy", "normalise", "suggest_terms"]
