"""A plan's home supply (pills, self-injections): pharmacy fills (``records``), PQA's
carry-forward cover (``coverage``), what is on hand and when it runs out (``onhand``), the
refill instants kept in the plan's row and the refill texts (``schedule``), what the CLI and
the API do (``actions``) and the public model they answer with (``public``).

May import dosing, messaging, storage and core (and ``schedules``, ``notifiers``); never
the care layer: the ``refill_overdue`` flag is raised by ``adherence.care.flags.refill``.
"""
