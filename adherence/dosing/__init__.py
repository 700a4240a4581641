"""Doses: plans and their regimens (``plans``), materialising doses ahead (``materialize``),
the labels' missed-dose rules (``rules``), reminders, nudges and missed marks
(``dispatch``), recording what the patient did (``confirm``), reading replies (``replies``)
and receiving inbound texts (``inbound``). May import ``core``, ``storage``, ``messaging``."""
