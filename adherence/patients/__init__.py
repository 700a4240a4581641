"""Patients and care teams: enrolment and validation (``enrollment``), the roster import
(``roster``), demo data (``demo``). May import ``core``, ``storage``, ``messaging``,
``dosing``."""
