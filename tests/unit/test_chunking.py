"""retrieval.chunking: sentence-aware, overlapping chunks; short passages stay whole."""

from __future__ import annotations

import pytest

from retrieval.chunking import chunk_text, split_sentences


def numbered_sentences(count: int, length: int = 10) -> str:
    """`count` sentences of `length` words each, every word unique (s3w4 = sentence 3, word 4)."""
    return " ".join(" ".join(f"s{i}w{j}" for j in range(length)) + "." for i in range(count))


def words_of(chunk: str) -> list[str]:
    return chunk.split()


def test_short_text_is_one_chunk_unchanged() -> None:
    text = "  The Amsel flows through Pellowick.\n\nIt meets the sea in a lagoon.  "
    assert chunk_text(text) == [text]


def test_text_of_exactly_words_is_one_chunk() -> None:
    text = " ".join(["w"] * 180)
    assert chunk_text(text, words=180) == [text]


def test_blank_text_gives_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []


def test_long_text_chunks_respect_the_word_limit() -> None:
    text = numbered_sentences(60)  # 600 words
    chunks = chunk_text(text, words=180, overlap=30)
    assert len(chunks) > 3
    assert all(len(words_of(c)) <= 180 for c in chunks)


def test_chunks_end_on_sentence_boundaries() -> None:
    chunks = chunk_text(numbered_sentences(60), words=180, overlap=30)
    for chunk in chunks:
        assert chunk.endswith(".")
        assert words_of(chunk)[0].endswith("w0")  # starts at a sentence start


def test_neighbours_share_about_overlap_words() -> None:
    chunks = chunk_text(numbered_sentences(60), words=180, overlap=30)
    for left, right in zip(chunks, chunks[1:]):
        shared = len(set(words_of(left)) & set(words_of(right)))
        assert 15 <= shared <= 30
        assert words_of(right)[:shared] == words_of(left)[-shared:]


def test_every_word_is_kept_in_order() -> None:
    text = numbered_sentences(47, length=13)
    chunks = chunk_text(text, words=100, overlap=20)
    seen: list[str] = []
    for chunk in chunks:
        seen.extend(w for w in words_of(chunk) if w not in seen)
    assert seen == text.split()


def test_zero_overlap_partitions_the_text() -> None:
    text = numbered_sentences(30)
    chunks = chunk_text(text, words=50, overlap=0)
    assert sum(len(words_of(c)) for c in chunks) == 300
    assert " ".join(chunks) == text


def test_sentence_longer_than_a_chunk_is_cut() -> None:
    text = " ".join(f"w{i}" for i in range(500)) + "."
    chunks = chunk_text(text, words=100, overlap=10)
    assert all(len(words_of(c)) <= 100 for c in chunks)
    assert words_of(chunks[0])[0] == "w0"
    assert words_of(chunks[-1])[-1] == "w499."
    for left, right in zip(chunks, chunks[1:]):
        assert words_of(right)[:10] == words_of(left)[-10:]


def test_long_last_sentence_overlaps_by_words() -> None:
    # One 60-word sentence then many short ones: the overlap after it must be word-level, not empty.
    text = " ".join(f"long{i}" for i in range(60)) + ". " + numbered_sentences(20, length=5)
    chunks = chunk_text(text, words=80, overlap=20)
    assert len(chunks) >= 2
    left, right = chunks[0], chunks[1]
    shared = len(set(words_of(left)) & set(words_of(right)))
    assert shared >= 10


def test_paragraph_breaks_split_sentences() -> None:
    assert split_sentences("Heading without stop\n\nFirst. Second!  Third?") == [
        "Heading without stop", "First.", "Second!", "Third?",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert split_sentences('She said "go." Then she left.') == ['She said "go."', "Then she left."]


@pytest.mark.parametrize(("words", "overlap"), [(0, 0), (10, 10), (10, 12), (10, -1)])
def test_bad_sizes_are_rejected(words: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("some text", words=words, overlap=overlap)
