"""The visit summary: one page for the neurology visit, for the clinician (so it names the
therapy). ``gather`` reads the data (adherence by month, missed and late doses, supply gaps,
flares, check-in trends, label monitoring, injection sites), ``render`` makes the HTML from
``templates/summary.html`` (print CSS, readable in black and white), ``pdf`` turns that
HTML into a PDF with WeasyPrint.

Part of the care layer: may import ``core``, ``storage``, ``messaging``, ``dosing``,
``patients``, ``calendar``, ``supply`` and ``care.measures``; never ``selfcare``, ``web`` or
``cli``. The caller writes the audit row for the read.
"""

from adherence.care.summary.gather import Summary, default_since, gather
from adherence.care.summary.pdf import PdfUnavailable, render_pdf
from adherence.care.summary.render import PAPERS, render_html

__all__ = [
    "PAPERS",
    "PdfUnavailable",
    "Summary",
    "default_since",
    "gather",
    "render_html",
    "render_pdf",
]
