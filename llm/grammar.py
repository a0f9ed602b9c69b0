"""Grammar-constrained decoding by llguidance: a JSON Schema (or a Lark grammar) becomes a mask over the next token.

`TokenGrammar` wraps one model's tokenizer (built once, on first use: about 3 s for a 150k vocabulary) and compiles
grammars; a `Matcher` follows one request: it consumes the tokens generated so far and fills the bitmask of the
tokens that may come next (EOS only once the grammar is complete). The direct model and the batching engine apply
the same mask with `apply_bitmask`, so both decode the same greedy tokens under a grammar. `validate` checks a
reply against its schema (jsonschema) for backends that cannot constrain themselves. Importing this is light (no
torch, no llguidance until a grammar is compiled).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llm.base import LLMError

if TYPE_CHECKING:
    import torch

# Compact JSON, spaced as people and small models write it: `{"a": 1, "b": [2, 3]}`. No free whitespace: a small
# model under a grammar that allows it can fill max_tokens with newlines.
JSON_OPTIONS = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
ANY_JSON_OBJECT: dict[str, Any] = {"type": "object"}


class GrammarError(LLMError):
    """A schema or grammar that the grammar engine cannot compile."""


def _llguidance() -> Any:
    try:
        import llguidance
    except ImportError as exc:  # pragma: no cover - a pinned requirement
        raise LLMError("grammar-constrained decoding needs the llguidance package: pip install llguidance") from exc
    return llguidance


def json_schema_grammar(schema: dict[str, Any]) -> str:
    """The llguidance grammar of the JSON texts valid under `schema`; GrammarError names what is wrong."""
    if not isinstance(schema, dict):
        raise GrammarError(f"a JSON Schema must be an object, not {type(schema).__name__}")
    llg = _llguidance()
    try:
        grammar = llg.LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=JSON_OPTIONS)
    except (ValueError, TypeError) as exc:
        raise GrammarError(f"the JSON Schema cannot be compiled: {exc}") from exc
    error = llg.LLMatcher.validate_grammar(grammar)
    if error:
        raise GrammarError(f"the JSON Schema cannot be compiled: {error}")
    return grammar


def lark_grammar(lark: str) -> str:
    """The llguidance grammar of a Lark grammar text (which may embed `%json {...}` schemas)."""
    llg = _llguidance()
    grammar = llg.LLMatcher.grammar_from_lark(lark)
    error = llg.LLMatcher.validate_grammar(grammar)
    if error:
        raise GrammarError(f"the grammar cannot be compiled: {error}")
    return grammar


def bitmask_words(vocab_size: int) -> int:
    """32-bit words in one row of a token bitmask."""
    return (vocab_size + 31) // 32


def apply_bitmask(scores: torch.Tensor, bitmask: torch.Tensor) -> None:
    """Set to -inf, in place, every score whose token's bit is 0 ([rows, vocab] scores, [rows, words] int32 mask)."""
    import torch

    rows, vocab = scores.shape
    bits = torch.arange(32, dtype=torch.int32, device=bitmask.device)
    allowed = ((bitmask[:rows, :, None] >> bits) & 1).reshape(rows, -1)[:, :vocab].to(scores.device)
    scores.masked_fill_(allowed == 0, float("-inf"))


class Matcher:
    """One request's place in its grammar: consumes generated tokens, fills the mask of the next one."""

    def __init__(self, matcher: Any, eos_ids: Sequence[int]) -> None:
        self._matcher = matcher
        self._eos = list(eos_ids)
        self.consumed = 0

    def advance(self, tokens: Sequence[int]) -> None:
        """Consume the tokens generated since the last call (`tokens` is every token generated so far)."""
        for token in tokens[self.consumed:]:
            if token not in self._eos:
                self._matcher.consume_token(int(token))
        self.consumed = len(tokens)

    def fill(self, row: torch.Tensor) -> None:
        """Write the allowed next tokens into `row` (one int32 bitmask row on the CPU); EOS alone after an error."""
        if self._matcher.is_error():
            row.zero_()
            for eos in self._eos:
                row[eos // 32] |= _bit(eos % 32)
            return
        self._matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())
        if self._matcher.is_accepting():  # every end-of-sequence token may end it, not only the tokenizer's own
            for eos in self._eos:
                row[eos // 32] |= _bit(eos % 32)

    @property
    def complete(self) -> bool:
        """True when the tokens so far form a whole sentence of the grammar."""
        return not self._matcher.is_error() and self._matcher.is_accepting()

    @property
    def error(self) -> str:
        """The grammar engine's error ('' when none)."""
        return self._matcher.get_error() if self._matcher.is_error() else ""


def _bit(k: int) -> int:
    """Bit k of an int32 word, as a Python int torch accepts (bit 31 is the sign bit)."""
    return -(1 << 31) if k == 31 else 1 << k


class TokenGrammar:
    """One model's vocabulary for llguidance: compiles grammars into per-request `Matcher`s."""

    def __init__(self, tokenizer: Any, eos_ids: Sequence[int], vocab_size: int) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = sorted(eos_ids)
        self.vocab_size = vocab_size
        self._ll_tokenizer: Any = None
        self._lock = threading.Lock()

    def _tokenizer(self) -> Any:
        with self._lock:
            if self._ll_tokenizer is None:
                import llguidance.hf

                try:
                    self._ll_tokenizer = llguidance.hf.from_tokenizer(
                        self.tokenizer, n_vocab=self.vocab_size, eos_token=self.eos_ids or None)
                except ValueError as exc:
                    raise LLMError(f"this model's tokenizer cannot drive a grammar: {exc}") from exc
            return self._ll_tokenizer

    def token_bytes(self, token: int) -> bytes:
        """The bytes one token stands for (a piece of a multi-byte character stays a piece)."""
        return bytes(self._tokenizer().decode_bytes([int(token)]))

    def matcher(self, grammar: str) -> Matcher:
        """A fresh matcher at the start of `grammar` (from `json_schema_grammar` or `lark_grammar`)."""
        llg = _llguidance()
        matcher = llg.LLMatcher(self._tokenizer(), grammar, log_level=0)
        if matcher.is_error():
            raise GrammarError(f"the grammar cannot be used with this model: {matcher.get_error()}")
        return Matcher(matcher, self.eos_ids)

    def new_bitmask(self, rows: int) -> torch.Tensor:
        """An all-allowed int32 bitmask of `rows` rows for this vocabulary."""
        import torch

        return torch.full((rows, bitmask_words(self.vocab_size)), -1, dtype=torch.int32)


def validate(text: str, schema: dict[str, Any]) -> Any:
    """The JSON value of `text`, checked against `schema`; LLMError naming where it fails."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LLMError(f"the reply is not JSON ({exc}): {text[:200]!r}") from exc
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise LLMError(f"the reply does not match the JSON Schema at {where}: {exc.message}") from exc
    except jsonschema.SchemaError as exc:
        raise GrammarError(f"the JSON Schema is invalid: {exc.message}") from exc
    return value


def check_complete(matcher: Matcher, max_tokens: int) -> None:
    """LLMError unless the tokens a grammar followed form a whole sentence of it (max_tokens can cut it short)."""
    if matcher.error:
        raise LLMError(f"the grammar engine stopped the reply: {matcher.error}")
    if not matcher.complete:
        raise LLMError(f"the reply reached max_tokens={max_tokens} before its JSON was complete; raise max_tokens")
