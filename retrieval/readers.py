"""Turn uploaded files (.txt, .md, .pdf, .html, .jsonl) into documents, or say plainly why not."""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from pypdf import PdfReader

SUPPORTED = (".txt", ".md", ".pdf", ".html", ".htm", ".jsonl")
MB = 1024 * 1024
MAX_TITLE = 120
MAX_ID = 64  # a .jsonl "id" longer than this is refused (chunk ids add ":N" and must fit 80 characters)
BINARY_SHARE = 0.30  # more than this share of non-printable characters means "not text"
DROP_TAGS = ("script", "style", "nav", "noscript", "template", "title")  # <title> becomes the title
BLOCK_TAGS = (
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "pre",
    "blockquote", "section", "article", "header", "footer", "main", "aside", "dt", "dd", "figcaption",
)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class RawDocument:
    """One document read from a file, before chunking and indexing."""

    id: str
    title: str
    text: str
    source: str  # file name, plus ":line N" for .jsonl


class IngestError(ValueError):
    """A file cannot be ingested; the message is one line, names the file and is shown to the user."""


def doc_id(title: str, text: str) -> str:
    """Stable 12-hex-digit id: sha1 of "title\\ntext"."""
    return hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:12]


def read_file(path: Path, max_bytes: int) -> list[RawDocument]:
    """Read one file into documents; raise IngestError with a user-facing message if it can't be used."""
    path = Path(path)
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        problem = f"unsupported file type '{suffix}'" if suffix else "no file extension"
        raise IngestError(f"{name}: {problem}; supported: {', '.join(SUPPORTED)}")
    data = _read_bytes(path, max_bytes)
    if suffix == ".pdf":
        return [_read_pdf(data, path)]
    if suffix in (".html", ".htm"):
        return [_read_html(data, path)]
    if suffix == ".jsonl":  # a NUL byte is then named by its line
        return _read_jsonl(_decode_text(data, name, nul_ok=True), path)
    return [_read_plain(_decode_text(data, name), path)]


def read_many(paths: Iterable[Path], max_bytes: int) -> tuple[list[RawDocument], list[str]]:
    """Read every file; return all documents and one error message per file that failed."""
    docs: list[RawDocument] = []
    errors: list[str] = []
    for path in paths:
        try:
            docs.extend(read_file(Path(path), max_bytes))
        except IngestError as exc:
            errors.append(one_line(str(exc)))
        except RecursionError:
            errors.append(one_line(f"{Path(path).name} is nested too deeply to read"))
        except Exception as exc:  # one bad file must not stop the others
            detail = " ".join(str(exc).split())[:200]
            errors.append(one_line(f"{Path(path).name} could not be read: {type(exc).__name__}: {detail}"))
    return docs, errors


def one_line(message: str, limit: int = 400) -> str:
    """A message on one line: control characters (a newline in a file name, say) shown as spaces."""
    message = "".join(c if c.isprintable() else " " for c in message)
    return message if len(message) <= limit else message[: limit - 1] + "…"


# -- checks shared by every format ------------------------------------------------------------


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, after the missing / too-large / empty checks."""
    if not path.exists():
        raise IngestError(f"{path.name} was not found")
    if not path.is_file():
        raise IngestError(f"{path.name} is not a file")
    size = path.stat().st_size
    if max_bytes > 0 and size > max_bytes:
        shown, limit = _sizes(size, max_bytes)
        raise IngestError(f"{path.name} is {shown}, over the {limit} limit (RAGSCOPE_MAX_FILE_MB)")
    if size == 0:
        raise IngestError(f"{path.name} is empty")
    return path.read_bytes()


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Human sizes for the file and the limit, precise enough that they differ."""
    for digits in (1, 2, 3):
        a, b = _human(size, digits), _human(limit, digits)
        if a != b:
            return a, b
    return f"{size} bytes", f"{limit} bytes"


def _human(n: int, digits: int) -> str:
    """Bytes as '31.2 MB', '20 MB', '4.5 KB' or '512 bytes'."""
    if n >= MB // 10:
        return f"{round(n / MB, digits):g} MB"
    if n >= 1024:
        return f"{round(n / 1024, digits):g} KB"
    return f"{n} bytes"


BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
)
PREFERRED = ("cp1252", "latin_1")  # Western text: chosen when it reads as well as the best guess
CHAOS_MARGIN = 0.1  # charset-normalizer's "mess" ratio; short texts fit several code pages about equally


def _decode_text(data: bytes, name: str, fallback: str | None = None, nul_ok: bool = False) -> str:
    """Text from a byte-order mark's encoding, UTF-8, a declared encoding or a detected one; never binary."""
    text = _decode_bom(data, name)
    if text is None:
        if b"\x00" in data and not nul_ok:
            raise IngestError(f"{name} contains NUL bytes: it looks like a binary file, not text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_fallback(data, name, fallback)
    if ("\x00" in text and not nul_ok) or _nonprintable_share(text) > BINARY_SHARE:
        raise IngestError(f"{name} looks like a binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_bom(data: bytes, name: str) -> str | None:
    """The text when the bytes start with a Unicode byte-order mark, else None."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                label = encoding.removesuffix("-sig").upper()
                raise IngestError(f"{name} starts with a {label} mark but is not valid {label} "
                                  f"(byte {exc.start})") from exc
    return None


def _decode_fallback(data: bytes, name: str, encoding: str | None) -> str:
    """Decode with a declared encoding, else the encoding charset-normalizer finds, else fail."""
    if encoding:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise IngestError(f"{name} is not text in any encoding we recognise (UTF-8, UTF-16, Latin-1, ...)")
    best = matches[0]
    # Short texts fit several code pages about equally well: among the close guesses take the one with
    # the fewest odd symbols (mojibake like "gêœl¹"), then the commonest code page.
    close = {m.encoding: str(m) for m in matches if m.chaos <= best.chaos + CHAOS_MARGIN}
    rank = {encoding: i for i, encoding in enumerate(PREFERRED)}
    return min(close.items(), key=lambda item: (_odd_characters(item[1]), rank.get(item[0], len(rank))))[1]


def _odd_characters(text: str) -> int:
    """Characters beyond ASCII that are neither letters, punctuation nor spaces: typical of mojibake."""
    return sum(1 for c in text if ord(c) > 127 and unicodedata.category(c)[0] not in "LPZ")


def _nonprintable_share(text: str) -> float:
    """Share of characters that are neither printable nor whitespace."""
    if not text:
        return 0.0
    bad = sum(1 for c in text if not (c.isprintable() or c.isspace()))
    return bad / len(text)


def _require_text(text: str, name: str, what: str) -> str:
    """The text, stripped; IngestError if nothing is left."""
    text = text.strip()
    if not text:
        raise IngestError(f"{name} {what}")
    return text


def _title_from_text(text: str, fallback: str) -> str:
    """First markdown heading, else first non-empty line, trimmed; else the fallback."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        match = _HEADING.match(line)
        if match:
            return _trim(match.group(1))
    return _trim(lines[0]) if lines else fallback


def _trim(title: str, limit: int = MAX_TITLE) -> str:
    """Collapse whitespace and cut to `limit` characters at a word boundary."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[: limit - 1].rsplit(" ", 1)[0] or title[: limit - 1]
    return cut.rstrip() + "…"


# -- formats ----------------------------------------------------------------------------------


def _read_plain(text: str, path: Path) -> RawDocument:
    """A .txt or .md file as one document."""
    text = _require_text(text, path.name, "has no text (only whitespace)")
    title = _title_from_text(text, path.stem)
    return RawDocument(id=doc_id(title, text), title=title, text=text, source=path.name)


def _read_html(data: bytes, path: Path) -> RawDocument:
    """An HTML page as one document: visible text, title from <title> or <h1>."""
    from bs4 import BeautifulSoup, Comment

    declared = _CHARSET.search(data[:4096])
    html = _decode_text(data, path.name, declared.group(1).decode("ascii") if declared else None)
    soup = BeautifulSoup(html, "html.parser")
    title = _html_title(soup)
    for tag in soup.find_all(list(DROP_TAGS)):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    text = _require_text(_html_text(soup), path.name, "has no visible text")
    title = title or _title_from_text(text, path.stem)
    return RawDocument(id=doc_id(title, text), title=title, text=text, source=path.name)


def _html_title(soup: BeautifulSoup) -> str:
    """Text of <title>, else of the first <h1>, else ''."""
    for tag_name in ("title", "h1"):
        tag = soup.find(tag_name)
        if tag is not None and tag.get_text(strip=True):
            return _trim(tag.get_text(" ", strip=True))
    return ""


def _html_text(soup: BeautifulSoup) -> str:
    """Visible text with one line per block element and collapsed spaces.

    One iterative walk, so a page nested 100,000 tags deep is read in linear time and without recursion.
    """
    from bs4 import CData, NavigableString, Tag

    parts: list[str] = []
    stack: list[tuple[Iterator[Any], Tag | None]] = [(iter(soup.contents), None)]
    in_pre = 0
    while stack:
        node = next(stack[-1][0], None)
        if node is None:
            tag = stack.pop()[1]
            if tag is not None:
                in_pre -= tag.name == "pre"
                if tag.name in BLOCK_TAGS:
                    parts.append("\n")
        elif isinstance(node, Tag):
            if node.name in BLOCK_TAGS:
                parts.append("\n")
            in_pre += node.name == "pre"
            stack.append((iter(node.contents), node))
        elif type(node) in (NavigableString, CData):
            parts.append(str(node) if in_pre else re.sub(r"\s+", " ", str(node)))
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return "\n".join(line for line in lines if line)


def _read_pdf(data: bytes, path: Path) -> RawDocument:
    """A PDF as one document: the text of every page, title from metadata or the first line.

    A PDF whose cross-reference table is missing or wrong is read through a rebuilt one; a PDF that
    cannot be read even so is refused with pypdf's reason.
    """
    try:
        reader, pages = _pdf_pages(data, path.name)
    except IngestError as first:
        repaired = None if "encrypted" in str(first) else _rebuild_xref(data)
        if repaired is None:
            raise
        try:
            reader, pages = _pdf_pages(repaired, path.name)
        except IngestError:
            raise first from None
        if not any(p.strip() for p in pages):  # what was left is no document: say why the file failed
            raise first
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    text = _require_text(text, path.name, "has no extractable text (scanned?)")
    title = _pdf_title(reader) or _title_from_text(text, path.stem)
    return RawDocument(id=doc_id(title, text), title=title, text=text, source=path.name)


def _pdf_pages(data: bytes, name: str) -> tuple[PdfReader, list[str]]:
    """The reader and the text of every page."""
    reader = _open_pdf(data, name)
    try:
        return reader, [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise IngestError(f"{name} is not a readable PDF ({_pdf_reason(exc)})") from exc


def _pdf_reason(exc: Exception) -> str:
    """pypdf's complaint on one short line, e.g. 'PdfReadError: startxref not found'."""
    detail = " ".join(str(exc).split())[:120]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


_PDF_OBJECT = re.compile(rb"(?<![0-9])([0-9]{1,7})\s+([0-9]{1,5})\s+obj\b")
_PDF_CATALOG = re.compile(rb"/Type\s*/Catalog\b")


def _rebuild_xref(data: bytes) -> bytes | None:
    """The PDF with a fresh cross-reference table built by scanning for objects, or None if it has none."""
    offsets: dict[int, int] = {}
    root = None
    for match in _PDF_OBJECT.finditer(data):
        number = int(match.group(1))
        offsets[number] = match.start()  # a later definition of the same number wins, as in an update
        if root is None and _PDF_CATALOG.search(data, match.end(), match.end() + 300):
            root = number
    if root is None or not offsets:
        return None
    body = data if data.endswith(b"\n") else data + b"\n"
    size = max(offsets) + 1
    rows = [b"0000000000 65535 f \n"]
    rows += [b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 65535 f \n" for n in range(1, size)]
    xref = b"xref\n0 %d\n" % size + b"".join(rows)
    trailer = b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, len(body))
    return body + xref + trailer


def _open_pdf(data: bytes, name: str) -> PdfReader:
    """A pypdf reader for the bytes, decrypted if it only has an empty password."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:  # any parser failure means "unreadable"
        raise IngestError(f"{name} is not a readable PDF ({_pdf_reason(exc)})") from exc
    if encrypted and not _try_empty_password(reader):
        raise IngestError(f"{name} is an encrypted PDF; remove the password and upload it again")
    return reader


def _try_empty_password(reader: PdfReader) -> bool:
    """True if the PDF opens with an empty password (permissions-only encryption)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # missing crypto backend or unsupported scheme
        return False


def _pdf_title(reader: PdfReader) -> str:
    """The document title from the PDF metadata, or ''."""
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:  # broken metadata is not worth failing for
        return ""
    return _trim(str(title)) if title and str(title).strip() else ""


def _read_jsonl(text: str, path: Path) -> list[RawDocument]:
    """A .jsonl file: one document per line with "text" and optional "id", "title"."""
    docs = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            docs.append(_jsonl_document(line, number, path))
    if not docs:
        raise IngestError(f"{path.name} has no documents (only blank lines)")
    return docs


def _jsonl_document(line: str, number: int, path: Path) -> RawDocument:
    """One .jsonl line as a document; the given id is kept, else doc_id()."""
    where = f"{path.name} line {number}"
    if "\x00" in line:
        raise IngestError(f"{where} contains a NUL byte (column {line.index(chr(0)) + 1})")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{where} is not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise IngestError(f"{where} is not a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise IngestError(f'{where} has no "text" string')
    text = _require_text(_storable(text), where, 'has an empty "text"')
    title = _storable(str(obj.get("title") or "")).strip()
    title = (_trim(title) if len(title) > MAX_TITLE else title) or _title_from_text(text, path.stem)
    given = _storable(str(obj.get("id") or "")).strip()
    if len(given) > MAX_ID:
        raise IngestError(f'{where} has an "id" of {len(given)} characters; at most {MAX_ID} are allowed')
    ident = given or doc_id(title, text)
    return RawDocument(id=ident, title=title, text=text, source=f"{path.name}:line {number}")


def _storable(text: str) -> str:
    """Text every database stores: no NUL characters, no lone surrogates (JSON allows both)."""
    text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8") if any("\ud800" <= c <= "\udfff" for c in text) else text


def jsonl_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a .jsonl file."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise IngestError(f"{path.name}: line {n} is not valid JSON ({exc.msg})") from exc
    return out


def read_corpus(path: Path) -> list[RawDocument]:
    """Passages of a benchmark corpus.jsonl ({id, title, text}), keeping their ids."""
    return [RawDocument(id=str(d["id"]), title=str(d.get("title", "")), text=str(d["text"]),
                        source=f"{path.name}:{n}") for n, d in jsonl_records(path)]
