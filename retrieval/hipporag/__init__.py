"""HippoRAG (Gutiérrez et al., NeurIPS 2024) as a library: OpenIE knowledge graph + Personalized PageRank retrieval.

HippoRAG 2's passage nodes and dense-score seeding are options of `HippoRAGIndex`.
"""

from retrieval.hipporag.graph import KnowledgeGraph, synonym_pairs
from retrieval.hipporag.index import HippoRAGIndex
from retrieval.hipporag.openie import (
    Extraction,
    ExtractionCache,
    Extractor,
    LLMExtractor,
    SpacyExtractor,
    normalize_phrase,
)
from retrieval.hipporag.ppr import personalized_pagerank, transition_matrix
from retrieval.hipporag.ranking import Retrieval

__all__ = [
    "Extraction",
    "ExtractionCache",
    "Extractor",
    "HippoRAGIndex",
    "KnowledgeGraph",
    "LLMExtractor",
    "Retrieval",
    "SpacyExtractor",
    "normalize_phrase",
    "personalized_pagerank",
    "synonym_pairs",
    "transition_matrix",
]
