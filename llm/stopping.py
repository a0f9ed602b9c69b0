"""Stop strings: the text of a growing token list, cut at the first stop string, and held back while its end may
still grow into one (or finish a multi-byte character). Shared by the direct model, the engine and CTranslate2."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters might still grow into a stop string (or finish a multi-byte char)."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence; wait for the next token
        hold = max(hold, 1)
    return hold


class StopCutter:
    """The text of a growing token list, cut at the first stop string. `update` gives the text that can no longer
    grow into a stop string (or finish a multi-byte character); `finish` gives the rest once the list is final."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str] | None) -> None:
        self.decode = decode
        self.stops = [s for s in (stop or ()) if s]
        self.stopped = False
        self._text = ""
        self._emitted = 0

    def update(self, ids: list[int]) -> str:
        """New text now that the tokens are `ids` (all of them so far)."""
        if self.stopped:
            return ""
        self._text = self.decode(ids)
        cut = first_stop(self._text, self.stops)
        if cut >= 0:
            self.stopped = True
            return self._take(cut)
        return self._take(len(self._text) - held_back(self._text, self.stops))

    def finish(self) -> str:
        """The held-back rest, once no token will follow."""
        return "" if self.stopped else self._take(len(self._text))

    def _take(self, end: int) -> str:
        if end <= self._emitted:
            return ""
        piece = self._text[self._emitted:end]
        self._emitted = end
        return piece


def stop_pieces(tokens: Iterable[int], decode: Callable[[list[int]], str], stop: Sequence[str] | None,
                counted: Callable[[int], None] | None = None) -> Iterator[str]:
    """Text pieces of a token stream, cut at the first stop string (the stream is then no longer read); text
    that might still grow into a stop string (or finish a multi-byte character) is held back until it cannot."""
    cutter = StopCutter(decode, stop)
    ids: list[int] = []
    for token in tokens:
        ids.append(token)
        if counted is not None:
            counted(len(ids))
        piece = cutter.update(ids)
        if piece:
            yield piece
        if cutter.stopped:
            return
    if piece := cutter.finish():
        yield piece


def first_stop(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest stop string in `text`, or -1."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else -1
