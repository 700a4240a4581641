"""Adherence measures per plan, patient and care team over a date range.

PDC follows the Pharmacy Quality Alliance rule (docs/measures.md has the full definition):
a taken dose is a "fill" on the local date it was taken, supplying the days until the
regimen's next scheduled dose divided by the doses scheduled that day (1 day for a daily
pill, half a day for each dose of a twice-daily pill, 2 or 3 days for Copaxone 40, 14 for
Plegridy, a month for Kesimpta). Supply that overlaps earlier supply is shifted forward,
each day counts once, cover stops at the period end. Infusions (outside PQA's PDC-MS),
relapse courses and monitoring items are not part of PDC.

Rows are read once, as plain columns in batches, so a full-year report for a team of
10,000 patients stays fast and small (bench/export.py).

The package owns the measures: ``results`` the result types and their JSON, ``rows`` the
reading of dose rows, ``pdc`` the computation of one plan from its rows (and a patient's
from its plans), ``compute`` the plan, patient and team entry points. Their public names are
re-exported here. ``latest`` (imported by its own name) is each patient's PDC over the last
``pdc_days`` days, with a cache of what it was measured from, for the workspace's pages.
"""

from adherence.care.measures.compute import (
    default_periods,
    iter_team_patients,
    measure_patient,
    measure_plan,
    measure_plans,
    measure_team,
)
from adherence.care.measures.dispensing import DispensingCover, dispensing_cover
from adherence.care.measures.pdc import (
    FINAL,
    NOT_SCHEDULED,
    PDC_KINDS,
    combine_plans,
    day_of,
    measure_rows,
)
from adherence.care.measures.results import PatientMeasures, PlanMeasures, TeamMeasures
from adherence.care.measures.rows import (
    BATCH,
    DOSES,
    LOOKAHEAD_DAYS,
    MEASURE_COLUMNS,
    DoseFacts,
    Facts,
    dose_batches,
    row_maker,
)
from adherence.supply.coverage import cover_chain

__all__ = [
    "BATCH",
    "DOSES",
    "FINAL",
    "LOOKAHEAD_DAYS",
    "MEASURE_COLUMNS",
    "NOT_SCHEDULED",
    "PDC_KINDS",
    "DispensingCover",
    "DoseFacts",
    "Facts",
    "PatientMeasures",
    "PlanMeasures",
    "TeamMeasures",
    "combine_plans",
    "cover_chain",
    "day_of",
    "default_periods",
    "dispensing_cover",
    "dose_batches",
    "iter_team_patients",
    "measure_patient",
    "measure_plan",
    "measure_plans",
    "measure_rows",
    "measure_team",
    "row_maker",
]
