"""Self-care between the doses: symptom check-ins, flare triage and opt-in self-care nudges.

Above ``care`` (it raises flags) and below the engine (which runs its steps each tick).
"""
