"""`adherence simulate SCENARIO.toml`: the real engine on a virtual clock, in memory.

A scenario declares a care team, patients with their plans, the period, and how each
patient behaves. The output is a timeline of every text sent and received, every dose
status change and every rule event: what a patient will live through, before they do.
``scenario`` reads the file, ``run`` drives the engine. Format: docs/simulation.md.
"""

from adherence.simulate.run import render_text, run_scenario
from adherence.simulate.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "render_text", "run_scenario"]
