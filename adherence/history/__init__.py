"""Bringing in what happened before the daemon: dose history and dispensing records.

A clinic that starts using the daemon already has months of doses (a pharmacy system, an
infusion log, an EHR) and pharmacy fills. ``history`` reads them from a CSV file or a FHIR
R4/R4B Bundle, matches each row to a dose of the patient's plan, and records it as the
engine would have, marked as imported:

- ``rows``: the row types (a dose row, a fill row), each with the place it came from;
- ``csvfile``: the streaming CSV reader (the header says whether it holds doses or fills);
- ``fhirbundle``: the Bundle reader (MedicationAdministration, MedicationDispense);
- ``codes``: therapy codes (RxNorm, where sourced) and text matching with brand names;
- ``match``: a row's patient, plan and expected dose;
- ``write``: what a row does to the dose it names (the conflict policy), and the writes;
- ``apply``: the import itself, chunk by chunk (strict, dry run, audit, rescheduling);
- ``files``: from a path or a request body to an applied import;
- ``result``: what an import did (counts, refused rows with their origin and field).

``docs/onboarding.md`` is the user's side of all this.

May import ``adherence.patients``, ``adherence.supply``, ``adherence.dosing``,
``adherence.storage`` and ``adherence.core``, never the entry points.
"""
