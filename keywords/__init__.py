"""Keyword taxonomy: loading, validation, jieba segmentation and query classification."""
from keywords.classify import Classifier, Match, classify, normalise, suggest_terms
from keywords.taxonomy import (DIMENSIONS, Taxonomy, TaxonomyError, Term, default_taxonomy,
                               load_taxonomy)

__all__ = ["Classifier", "DIMENSIONS", "Match", "Taxonomy", "TaxonomyError", "Term", "classify",
           "default_taxonomy", "load_taxonomy", "normalise", "suggest_terms"]
