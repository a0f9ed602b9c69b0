"""Open information extraction for HippoRAG: named entities and (subject, relation, object) triples per passage.

Two extractors share one protocol: `SpacyExtractor` (dependency parses, no LLM, fast on CPU) and
`LLMExtractor` (the paper's two-step one-shot prompting: NER, then triples conditioned on the entities).
`ExtractionCache` keys results by sha1(extractor name + passage text) so nothing is extracted twice.
"""

from retrieval.hipporag.openie.extraction import (
    Extraction,
    ExtractionCache,
    Extractor,
    Triple,
    cache_key,
    dedupe_phrases,
    fallback_entities,
    normalize_phrase,
    split_title,
    title_entity,
)
from retrieval.hipporag.openie.llm_extractor import (
    LLMExtractor,
    first_json_object,
    ner_messages,
    triple_messages,
)
from retrieval.hipporag.openie.spacy_extractor import SpacyExtractor, doc_extraction

__all__ = [
    "Extraction",
    "ExtractionCache",
    "Extractor",
    "LLMExtractor",
    "SpacyExtractor",
    "Triple",
    "cache_key",
    "dedupe_phrases",
    "doc_extraction",
    "fallback_entities",
    "first_json_object",
    "ner_messages",
    "normalize_phrase",
    "split_title",
    "title_entity",
    "triple_messages",
]
