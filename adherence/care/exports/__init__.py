"""A care team's doses and measures as CSV, JSON or a FHIR R4B Bundle, streamed.

``stream`` owns ``export_stream`` (checks the request, counts progress, picks the writer);
``read`` reads the team patient by patient with their plans, doses and measures;
``tabular`` writes CSV and JSON, ``fhir`` the FHIR R4B Bundle. The public names are
re-exported here.
"""

from adherence.care.exports.fhir import SYSTEM, timing_repeat, validate_resource
from adherence.care.exports.read import DOSE_BATCH, PATIENT_BATCH
from adherence.care.exports.stream import FORMATS, ExportError, Progress, export_stream
from adherence.care.exports.tabular import (
    CSV_HEADER,
    DOSE_COLUMNS,
    OBSERVATION_COLUMNS,
    SUMMARY_COLUMNS,
)

__all__ = [
    "CSV_HEADER",
    "DOSE_BATCH",
    "DOSE_COLUMNS",
    "FORMATS",
    "OBSERVATION_COLUMNS",
    "PATIENT_BATCH",
    "SUMMARY_COLUMNS",
    "SYSTEM",
    "ExportError",
    "Progress",
    "export_stream",
    "timing_repeat",
    "validate_resource",
]
