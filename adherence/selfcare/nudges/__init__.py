"""Opt-in self-care nudges: the subscriptions a patient chose with the care team
(``subscriptions``) and the engine step that texts the due ones (``step``)."""
