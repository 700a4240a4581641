"""The care team: the care step of a tick (``step``), flags and the rules that raise them
(``flags``), urgent escalation and digests (``escalation``), adherence measures and PDC
(``measures``), exports (``exports``), coordinators and their tokens (``coordinators``). May import every layer below it: ``core``, ``storage``,
``messaging``, ``dosing``, ``patients``, ``calendar``."""
