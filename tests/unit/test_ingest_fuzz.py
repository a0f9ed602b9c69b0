"""Fuzzing ingest: hypothesis-made jsonl lines and file names, and a folder of nasty files.

Every bad input must give one line that names the file and the problem (never a traceback); the rest
of the batch is ingested and the corpus's earlier documents are untouched.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.readers import MB, SUPPORTED, one_line, read_many

EXTENSIONS = (*SUPPORTED, ".docx", ".exe", "")
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GOOD_LINE = json.dumps({"id": "good", "title": "Good", "text": "A good line about the river Senn."})

# JSON values of every shape, and lines that are almost JSON
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
documents = st.fixed_dictionaries(
    {"text": st.one_of(st.text(), st.integers(), st.none(), st.just(" \x00 "), st.just("\ud800 lone"))},
    optional={"id": st.one_of(st.text(), st.integers(), st.none(), st.text(min_size=65, max_size=80)),
              "title": st.one_of(st.text(), st.text(min_size=200, max_size=600), st.floats(), st.none())},
)
jsonl_lines = st.one_of(
    json_values.map(json.dumps),
    documents.map(json.dumps),
    documents.map(lambda d: json.dumps(d)[:-1]),  # truncated
    st.text(),
)
name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")


def _check_messages(errors: list[str], names: list[str]) -> None:
    """One line each, naming the file, never a traceback."""
    for message in errors:
        assert "\n" not in message and "Traceback" not in message
        assert any(one_line(name) in message for name in names), message


@FUZZ
@given(line=jsonl_lines)
def test_fuzzed_jsonl_line_gives_documents_or_one_line_naming_it(tmp_path_factory, line: str) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "fuzz.jsonl"
    path.write_text(GOOD_LINE + "\n" + line + "\n", encoding="utf-8", errors="surrogatepass")
    docs, errors = read_many([path], MB)
    _check_messages(errors, [path.name])
    if errors:
        assert not docs and len(errors) == 1
        assert re.search(r"fuzz\.jsonl line ([2-9]|\d\d+) ", errors[0]), errors[0]  # the fuzzed line (or its parts)
    else:
        assert docs[0].id == "good"
        for doc in docs:  # what a database will be asked to store
            assert "\x00" not in doc.text + doc.title + doc.id and len(doc.id) <= 64
            (doc.text + doc.title + doc.id + doc.source).encode("utf-8")


@FUZZ
@given(stem=st.text(name_chars, min_size=1, max_size=60), ext=st.sampled_from(EXTENSIONS))
def test_fuzzed_file_names_are_read_or_named_in_one_line(tmp_path_factory, stem: str, ext: str) -> None:
    name = stem + ext
    if name in (".", "..") or len(name.encode()) > 255:
        return
    path = tmp_path_factory.mktemp("names") / name
    path.write_bytes(_valid(path.suffix.lower(), "Plain words about Tallow."))
    docs, errors = read_many([path], MB)
    _check_messages(errors, [name])
    if path.suffix.lower() in SUPPORTED:
        assert docs and not errors and docs[0].source.startswith(path.name)
    else:
        assert not docs and len(errors) == 1
        assert "unsupported file type" in errors[0] or "no file extension" in errors[0]


# -- a folder of nasty files --------------------------------------------------------------------


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text`."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "readers"))
    from make_pdfs import minimal_pdf

    return minimal_pdf([text], title="Nasty")


def _valid(ext: str, words: str) -> bytes:
    """A well-formed file of this type."""
    if ext == ".pdf":
        return _minimal_pdf(words)
    if ext in (".html", ".htm"):
        return f"<html><head><title>Page</title></head><body><p>{words}</p></body></html>".encode()
    if ext == ".jsonl":
        return (json.dumps({"text": words}) + "\n" + json.dumps({"text": words + " again"}) + "\n").encode()
    if ext in (".txt", ".md"):
        return f"# Heading\n\n{words}\n".encode()
    return words.encode()


def nasty_files(folder: Path, rng: random.Random) -> dict[str, bytes]:
    """File name -> content for every kind of bad (or merely odd) upload."""
    files: dict[str, bytes] = {}
    for ext in (*SUPPORTED, ".docx", ""):
        tag = ext.lstrip(".") or "noext"
        valid = _valid(ext, f"{tag}: the Halden observatory stands in the Grey Hills.") if ext in SUPPORTED else b"x"
        files[f"empty-{tag}{ext}"] = b""
        files[f"blank-{tag}{ext}"] = b" \n\t\r\n   \n"
        files[f"random-{tag}{ext}"] = rng.randbytes(5000)
        files[f"truncated-{tag}{ext}"] = valid[: len(valid) * 2 // 3]
        files[f"nul-{tag}{ext}"] = valid[:10] + b"\x00\x00" + valid[10:]
    files["single-line-3mb.txt"] = ("word " * (3 * MB // 5)).encode()
    files["single-line-3mb.jsonl"] = json.dumps({"text": "token " * (3 * MB // 6)}).encode()
    files["single-line-3mb.html"] = b"<p>" + b"tag " * (3 * MB // 4) + b"</p>"
    files["nested-deep.html"] = b"<div>" * 100_000 + b"deep text" + b"</div>" * 100_000
    files["nested-deep-unclosed.html"] = b"<b><i>" * 50_000 + b"still text"
    files["bad-line.jsonl"] = (GOOD_LINE + "\n{not json\n").encode()
    files["<img src=x onerror=alert(1)>.md"] = b"**bold** <script>alert(1)</script>"
    files["utf16.txt"] = "Über die Brücke in Zürich.".encode("utf-16")
    files["latin1.md"] = "café au lait, naïve façade".encode("latin-1")
    return files


def _snapshot(svc, corpus: str) -> dict[str, tuple[str, str, str]]:
    """doc id -> (title, text, source) of every document."""
    cid = svc.db.corpus_id(corpus)
    return {d.doc_id: svc.db.get_document(cid, d.doc_id) for d in svc.db.list_documents(cid, limit=100_000)}


def test_nasty_folder_is_reported_file_by_file_and_earlier_documents_survive(services_factory, toy_docs,
                                                                              tmp_path: Path) -> None:
    svc = services_factory(max_files=100)
    svc.ingest_documents("toy", toy_docs)
    before = _snapshot(svc, "toy")
    rng = random.Random(12)
    folder = tmp_path / "uploads"
    (folder / "a" / "b").mkdir(parents=True)
    paths = []
    for name, data in nasty_files(folder, rng).items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    good = folder / "fresh.md"
    good.write_text("# Fresh\n\nThe Amber Sea is warm in summer.", encoding="utf-8")
    (folder / "x.txt").write_text("Reached through a path-like name.", encoding="utf-8")
    paths += [good, folder / "a" / "b" / ".." / ".." / "x.txt", folder / "a" / "b" / ".." / ".." / ".." / "gone.txt"]

    report = svc.ingest("toy", paths)

    after = _snapshot(svc, "toy")
    assert {k: after[k] for k in before} == before  # earlier documents untouched, content and all
    sources = {src.split(":")[0] for _, _, src in after.values()}
    assert {"fresh.md", "x.txt", "utf16.txt", "latin1.md", "single-line-3mb.txt"} <= sources
    assert not any("/" in s for s in sources)
    names = [p.name for p in paths]
    _check_messages(report.errors, names)
    for path in paths:  # each file: documents, or exactly one line naming it
        mentioned = [e for e in report.errors if e.startswith(one_line(path.name) + " ")
                     or e.startswith(one_line(path.name) + ":")]
        stored = path.name in sources
        assert stored != bool(mentioned) and len(mentioned) <= 1, (path.name, mentioned, stored)
    rejected = {e.split(" ")[0].rstrip(":") for e in report.errors}
    for kind in ("empty-", "blank-", "random-", "nul-"):  # a PDF may hold a NUL byte in a comment
        assert all(n in rejected for n in names if n.startswith(kind) and n != "nul-pdf.pdf"), kind
    assert "bad-line.jsonl" in rejected and any("bad-line.jsonl line 2" in e for e in report.errors)
    cid = svc.db.corpus_id("toy")
    assert svc.vectors.count(svc.corpora.namespace(cid)) == len(svc.db.all_chunks(cid))
    lost = sum(after.get(k) != v for k, v in before.items())
    print(f"nasty folder: {len(paths)} files, {len(report.errors)} rejected with one line each, "
          f"{report.added} documents indexed from the rest, {lost} of {len(before)} earlier documents lost")
