"""A patient's chart as data for the workspace: the adherence calendar (``calendar``), what
the patient page reads of one patient in a few queries (``timeline``), the team's patient
search and filters (``search``), with the PDC it shows and filters by read from
``adherence.care.measures.latest``."""
