"""Bringing in what happened before the daemon: dose history and dispensing records.

A clinic that starts using the daemon already has months of doses (a pharmacy system, an
infusion log, an EHR) and pharmacy fills. ``history`` reads them from a CSV file or a FHIR
R4/R4B Bundle, matches each row to a dose of the patient's plan, and records it as the
engine would have, marked as imported:

- ``rows``: the row types (a dose row, a fill row), each with the place it came from;
- ``csvfile``: the streaming CSV reader (the header says whether it holds doses or fills);
- ``fhirbundle``: the Bundle reader (MedicationAdministration, MedicationDispense);
- ``codes``: therapy codes (RxNorm, where sourced) and text matching with brand names;
- ``apply``: matching rows to plans and doses, and writing them, chunk by chunk;
- ``result``: what an import did (counts, refused rows with their origin and field).

May import ``adherence.patients``, ``adherence.supply``, ``adherence.dosing``,
``adherence.storage`` and ``adherence.core``, never the entry points.
"""
