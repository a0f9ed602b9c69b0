"""retrieval.readers: every supported format, and every way a file is turned away."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from retrieval.readers import (
    MB,
    SUPPORTED,
    IngestError,
    RawDocument,
    doc_id,
    read_corpus,
    read_file,
    read_many,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "readers"
LIMIT = 20 * MB


def read(name: str, max_bytes: int = LIMIT) -> list[RawDocument]:
    return read_file(FIXTURES / name, max_bytes)


def rejection(name: str | Path, max_bytes: int = LIMIT) -> str:
    path = name if isinstance(name, Path) else FIXTURES / name
    with pytest.raises(IngestError) as info:
        read_file(path, max_bytes)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    return message


# -- helpers ----------------------------------------------------------------------------------


def test_doc_id_is_sha1_prefix_of_title_and_text() -> None:
    assert doc_id("T", "body") == hashlib.sha1(b"T\nbody").hexdigest()[:12]
    assert len(doc_id("T", "body")) == 12
    assert doc_id("T", "body") != doc_id("T", "body ")


def test_ingest_error_is_a_value_error() -> None:
    assert issubclass(IngestError, ValueError)


def test_raw_document_is_frozen() -> None:
    doc = RawDocument(id="x", title="t", text="b", source="s")
    with pytest.raises(AttributeError):
        doc.text = "changed"  # type: ignore[misc]


def test_demo_corpus_ids_match_doc_id() -> None:
    corpus = Path(__file__).resolve().parents[2] / "data" / "demo" / "corpus.jsonl"
    docs = read_file(corpus, LIMIT)
    assert len(docs) >= 36
    for doc in docs:
        assert doc.id == doc_id(doc.title, doc.text)


# -- formats ----------------------------------------------------------------------------------


def test_markdown_title_is_first_heading() -> None:
    [doc] = read("notes.md")
    assert doc.title == "Harbours of the March"
    assert doc.source == "notes.md"
    assert "Corwen Halloway founded the Guild of Tidewardens." in doc.text
    assert doc.id == doc_id(doc.title, doc.text)


def test_text_title_is_first_non_empty_line_and_text_is_stripped() -> None:
    [doc] = read("plain.txt")
    assert doc.title == "Field notes from Ostemere"
    assert doc.text.startswith("Field notes") and doc.text.endswith("highest peak.")


def test_long_first_line_title_is_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("word " * 100 + "\nsecond line\n", encoding="utf-8")
    [doc] = read_file(path, LIMIT)
    assert len(doc.title) <= 120
    assert doc.title.startswith("word word")


def test_html_keeps_visible_text_and_drops_script_style_nav() -> None:
    [doc] = read("page.html")
    assert doc.title == "Carrowdene Observatory"
    assert "Carrowdene Observatory stands on the summit of Mount Ferrel." in doc.text
    assert "The comet called the Grey Lantern was first sighted there in 1849." in doc.text
    assert "Founded 1831\nBrass refractor" in doc.text
    for hidden in ("do not index me", "also hidden", "color: red", "About the site", "html comment", "DOCTYPE"):
        assert hidden not in doc.text


def test_html_title_from_h1_when_no_title_tag() -> None:
    [doc] = read("heading_only.html")
    assert doc.title == "Greyhollow Light"
    assert "north coast of Sellivar" in doc.text


def test_htm_extension_and_declared_charset(tmp_path: Path) -> None:
    path = tmp_path / "old.htm"
    path.write_bytes((FIXTURES / "latin1.html").read_bytes())
    [doc] = read_file(path, LIMIT)
    assert doc.title == "Café"
    assert doc.text == "Crème brûlée"


def test_pdf_text_and_metadata_title() -> None:
    [doc] = read("report.pdf")
    assert doc.title == "Saltspine Railway Report"
    assert "The Saltspine Railway opened in 1864." in doc.text
    assert "It runs from Duvessa to Orrinhal." in doc.text
    assert doc.source == "report.pdf"


def test_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(FIXTURES / "report.pdf"))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "permissions.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    [doc] = read_file(path, LIMIT)
    assert "opened in 1864" in doc.text


def test_jsonl_keeps_given_ids_and_numbers_lines() -> None:
    docs = read("corpus.jsonl")
    assert [d.source for d in docs] == ["corpus.jsonl:line 1", "corpus.jsonl:line 3", "corpus.jsonl:line 4"]
    given, titled, bare = docs
    assert (given.id, given.title) == ("abc123def456", "Mirrowgate")
    assert (titled.title, titled.id) == ("Pellowick", doc_id("Pellowick", titled.text))
    assert bare.title == "A passage with no title or id."
    assert bare.id == doc_id(bare.title, bare.text)


def test_benchmark_corpus_keeps_ids_and_titles_as_given(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"id": 7, "title": "T", "text": "One."}\n\n{"id": "b", "text": "Two."}\n', encoding="utf-8")
    assert read_corpus(path) == [RawDocument(id="7", title="T", text="One.", source="corpus.jsonl:1"),
                                 RawDocument(id="b", title="", text="Two.", source="corpus.jsonl:3")]
    path.write_text('{"id": "a", "text": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(IngestError, match="line 2 is not valid JSON"):
        read_corpus(path)


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "SHOUT.TXT"
    path.write_text("Loud text.", encoding="utf-8")
    assert read_file(path, LIMIT)[0].text == "Loud text."


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Title\nBody".encode())
    [doc] = read_file(path, LIMIT)
    assert doc.title == "Title"
    assert not doc.text.startswith("\ufeff")


# -- rejections -------------------------------------------------------------------------------


def test_unsupported_extension_lists_supported_ones() -> None:
    message = rejection("notes.docx")
    assert "'.docx'" in message
    for ext in SUPPORTED:
        assert ext in message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in rejection(tmp_path / "nowhere.txt")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.md"
    folder.mkdir()
    assert "not a file" in rejection(folder)


def test_empty_file() -> None:
    assert "is empty" in rejection("empty.txt")


def test_whitespace_only_file() -> None:
    assert "no text" in rejection("whitespace.txt")


def test_html_without_visible_text() -> None:
    assert "no visible text" in rejection("whitespace_only.html")


def test_nul_bytes_mean_binary() -> None:
    assert "binary" in rejection("nul_bytes.txt")


def test_mostly_control_characters_mean_binary() -> None:
    assert "binary" in rejection("control.md")


def test_a_few_control_characters_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "form_feed.txt"
    path.write_text("Page one.\x0c\x07Page two has a bell." * 3, encoding="utf-8")
    assert read_file(path, LIMIT)[0].text.startswith("Page one.")


def test_latin1_text_is_detected_and_read() -> None:
    [doc] = read("latin1.txt")
    assert doc.text == "café au lait, naïve"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "wide.md"
    bom = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}.get(encoding, "")
    path.write_bytes((bom + "# Zürich notes\r\nÜber die Brücke.\r\n").encode(encoding))
    [doc] = read_file(path, LIMIT)
    assert (doc.title, doc.text) == ("Zürich notes", "# Zürich notes\nÜber die Brücke.")


def test_cp1252_quotes_and_dashes_are_read(tmp_path: Path) -> None:
    path = tmp_path / "western.txt"
    text = "Les élèves ont été très sérieux — “déjà vu” à l’école, ça va. Grüße aus München."
    path.write_bytes(text.encode("cp1252"))
    assert read_file(path, LIMIT)[0].text == text


def test_bad_utf16_after_its_mark_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    assert "UTF-16 mark but is not valid UTF-16" in rejection(path)


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    import random

    path = tmp_path / "noise.txt"
    path.write_bytes(random.Random(1).randbytes(4000).replace(b"\x00", b"\x01"))
    message = rejection(path)
    assert "binary" in message or "not text" in message


def test_size_limit_names_sizes_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        f.truncate(int(31.2 * MB))
    message = rejection(path, 20 * MB)
    assert message == "big.txt is 31.2 MB, over the 20 MB limit (RAGSCOPE_MAX_FILE_MB)"


def test_size_limit_for_small_limits() -> None:
    message = rejection("report.pdf", 100)
    assert "over the 100 bytes limit" in message


def test_file_at_the_limit_is_accepted() -> None:
    size = (FIXTURES / "plain.txt").stat().st_size
    assert read("plain.txt", size)


def test_corrupt_pdf() -> None:
    assert "not a readable PDF" in rejection("corrupt.pdf")


def test_encrypted_pdf() -> None:
    assert "encrypted" in rejection("encrypted.pdf")


def test_pdf_without_text() -> None:
    assert rejection("scanned.pdf") == "scanned.pdf has no extractable text (scanned?)"


def test_jsonl_invalid_line_names_line_number() -> None:
    message = rejection("bad_line.jsonl")
    assert "line 2" in message and "not valid JSON" in message


def test_jsonl_line_without_text() -> None:
    message = rejection("no_text.jsonl")
    assert "line 2" in message and '"text"' in message


def test_jsonl_line_with_blank_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text(json.dumps({"id": "x", "text": "   "}) + "\n", encoding="utf-8")
    assert "line 1" in rejection(path)


def test_jsonl_line_that_is_not_an_object() -> None:
    message = rejection("not_object.jsonl")
    assert "line 2" in message and "JSON object" in message


def test_jsonl_with_only_blank_lines() -> None:
    assert "no documents" in rejection("blank_lines.jsonl")


# -- read_many --------------------------------------------------------------------------------


def test_read_many_collects_documents_and_errors(tmp_path: Path) -> None:
    paths = [
        FIXTURES / "notes.md",
        FIXTURES / "empty.txt",
        FIXTURES / "corpus.jsonl",
        tmp_path / "gone.pdf",
        FIXTURES / "notes.docx",
        FIXTURES / "report.pdf",
    ]
    docs, errors = read_many(paths, LIMIT)
    assert [d.source for d in docs] == [
        "notes.md", "corpus.jsonl:line 1", "corpus.jsonl:line 3", "corpus.jsonl:line 4", "report.pdf",
    ]
    assert len(errors) == 3
    assert errors[0].startswith("empty.txt") and errors[1].startswith("gone.pdf")
    assert errors[2].startswith("notes.docx")


def test_read_many_turns_unexpected_failures_into_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    import retrieval.readers as readers

    def boom(data: bytes, path: Path) -> RawDocument:
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(readers, "_read_html", boom)
    docs, errors = read_many([FIXTURES / "page.html", FIXTURES / "plain.txt"], LIMIT)
    assert [d.source for d in docs] == ["plain.txt"]
    assert errors == ["page.html could not be read: RuntimeError: parser exploded"]


def test_html_with_unclosed_head_keeps_body_text(tmp_path: Path) -> None:
    path = tmp_path / "sloppy.html"
    path.write_text("<html><head><title>Sloppy</title><p>Body text survives.", encoding="utf-8")
    [doc] = read_file(path, LIMIT)
    assert doc.title == "Sloppy"
    assert doc.text == "Body text survives."


def test_file_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "README"
    path.write_text("text", encoding="utf-8")
    assert "no file extension" in rejection(path)


def _report_pdf() -> bytes:
    return (FIXTURES / "report.pdf").read_bytes()


@pytest.mark.parametrize("damage", ["no xref", "no xref or trailer", "wrong startxref", "shifted objects"])
def test_pdf_with_a_broken_xref_is_read_through_a_rebuilt_one(tmp_path: Path, damage: str) -> None:
    data = _report_pdf()
    xref = data.index(b"xref")
    damaged = {
        "no xref": data[:xref] + data[data.index(b"trailer"):],
        "no xref or trailer": data[:xref],
        "wrong startxref": data.replace(b"startxref\n", b"startxref\n9"),
        "shifted objects": data.replace(b"%PDF-1.4\n", b"%PDF-1.4\n% a comment added by a careless tool\n"),
    }[damage]
    path = tmp_path / "damaged.pdf"
    path.write_bytes(damaged)
    [doc] = read_file(path, LIMIT)
    assert "The Saltspine Railway opened in 1864." in doc.text


def test_pdf_cut_short_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "cut.pdf"
    path.write_bytes(_report_pdf()[:120])
    message = rejection(path)
    assert message.startswith("cut.pdf is not a readable PDF (") and "Error" in message
