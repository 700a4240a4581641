"""From a file (a path, or a request body) to an applied import.

The kind is read from the content, not the name: a first character ``{`` is a FHIR
Bundle, anything else CSV. A path is read twice: once in binary for its sha256 (kept in
the audit trail) and to check that it is UTF-8 before anything is written, then row by row.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from pathlib import Path

from sqlmodel import Session

from adherence.history.apply import Settings, import_history
from adherence.history.csvfile import CsvHistory
from adherence.history.fhirbundle import BundleHistory
from adherence.history.result import ImportResult
from adherence.history.rows import HistoryFileError

BLOCK = 1 << 20


def digest(path: Path) -> tuple[str, bool]:
    """The file's sha256, and whether it is a JSON document (its first character ``{``);
    ``HistoryFileError`` when it cannot be read or is not UTF-8."""
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    first = ""
    offset = 0
    try:
        with path.open("rb") as fh:
            while block := fh.read(BLOCK):
                sha.update(block)
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise HistoryFileError(
                        f"not UTF-8 text (byte {offset + exc.start}); save it as CSV UTF-8"
                    ) from None
                offset += len(block)
                if not first:
                    first = text.lstrip()[:1]
            decoder.decode(b"", final=True)
    except OSError as exc:
        raise HistoryFileError(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HistoryFileError("not UTF-8 text (it ends inside a character)") from None
    return sha.hexdigest(), first == "{"


def import_path(
    session: Session,
    path: Path,
    *,
    settings: Settings,
    strict: bool = False,
    dry_run: bool = False,
    chunk: int | None = None,
) -> ImportResult:
    sha256, is_json = digest(path)
    result = ImportResult(name=path.name, sha256=sha256, strict=strict, dry_run=dry_run)
    if is_json:
        bundle = BundleHistory(path.read_text("utf-8-sig"))
        result.kind = bundle.kind
        return _run(session, bundle, result, settings, chunk)
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = CsvHistory(fh)
        result.kind = reader.kind
        return _run(session, reader, result, settings, chunk)


def import_body(
    session: Session,
    body: bytes,
    *,
    name: str,
    settings: Settings,
    media_type: str = "",
    strict: bool = False,
    dry_run: bool = False,
) -> ImportResult:
    """An import from bytes (the API's request body): CSV or a Bundle, by media type or,
    failing that, by content."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HistoryFileError(f"not UTF-8 text (byte {exc.start})") from None
    result = ImportResult(
        name=name, sha256=hashlib.sha256(body).hexdigest(), strict=strict, dry_run=dry_run
    )
    media = media_type.split(";")[0].strip().lower()
    is_json = media.endswith("json") or (media != "text/csv" and text.lstrip()[:1] == "{")
    reader: CsvHistory | BundleHistory
    reader = BundleHistory(text) if is_json else CsvHistory(io.StringIO(text, newline=""))
    result.kind = reader.kind
    return _run(session, reader, result, settings, None)


def _run(
    session: Session,
    reader: CsvHistory | BundleHistory,
    result: ImportResult,
    settings: Settings,
    chunk: int | None,
) -> ImportResult:
    if chunk is None:
        return import_history(session, rows=reader, result=result, settings=settings)
    return import_history(session, rows=reader, result=result, settings=settings, chunk=chunk)
