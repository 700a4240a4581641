"""The visit summary's PDF: its HTML laid out by WeasyPrint (which needs Pango from the
operating system: Debian's libpango-1.0-0 and libpangoft2-1.0-0, and a font such as
fonts-dejavu-core). Imported on first use, so the rest of the daemon runs without it and a
missing library is one clear error, not a crash at start."""

from __future__ import annotations

import logging


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the Pango it loads) is not installed."""


def render_pdf(html: str) -> bytes:
    """``html`` (self-contained: no external resource is fetched) as PDF bytes."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: Pango's shared library is missing
        raise PdfUnavailable(
            f"PDF output needs WeasyPrint and Pango ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from exc
    # WeasyPrint logs each CSS property it does not know at WARNING; none carries patient data.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    out = HTML(string=html, url_fetcher=_no_fetch).write_pdf()
    assert isinstance(out, bytes)
    return out


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    # The page is self-contained; refusing every fetch keeps a stray URL in data inert.
    raise ValueError(f"the visit summary fetches nothing ({url[:40]})")
