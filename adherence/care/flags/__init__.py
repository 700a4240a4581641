"""Care-team flags: one open flag per plan (or patient) and rule, and the rules that raise them.

``store`` owns the flags themselves: raising one (insert-or-update on its ``open_key``),
listing, acknowledging and resolving them, their JSON, and the errors the CLI and the API
turn into messages. ``rules`` owns what raises them: ``evaluate`` and the rules it runs
(missed doses, overdue infusions, rule events, texting status, silence, low PDC) on the care
step of a tick; ``monitoring`` the ``monitoring_overdue`` flag of label checks not
recorded; ``visits`` the ``visit_overdue`` flag of neurology visits and MRI not attended in
their window (run by the care step next to ``evaluate``). ``refill`` owns the home-supply step (refill texts through
``adherence.supply``, the ``refill_overdue`` flag and its resolution by a newer fill), which
the engine runs on every tick. The public names of ``store`` and ``rules`` are re-exported
here.
"""

from adherence.care.flags.monitoring import monitoring_overdue_rule, resolve_recorded
from adherence.care.flags.pdc import PDC_BATCH, pdc_rule
from adherence.care.flags.rules import (
    EVENT_RULES,
    RULES,
    URGENT_RULES,
    check_missed_run,
    evaluate,
    event_rules,
    infusion_rule,
    missed_doses_rule,
    missed_threshold,
    silence_rule,
    sms_status_rule,
)
from adherence.care.flags.store import (
    STATUSES,
    FlagError,
    FlagNotFound,
    acknowledge,
    flag_json,
    get_flag,
    list_flags,
    open_key,
    raise_flag,
    resolve,
)
from adherence.care.flags.visits import resolve_attended, visit_overdue_rule, visit_rules

__all__ = [
    "EVENT_RULES",
    "PDC_BATCH",
    "RULES",
    "STATUSES",
    "URGENT_RULES",
    "FlagError",
    "FlagNotFound",
    "acknowledge",
    "check_missed_run",
    "evaluate",
    "event_rules",
    "flag_json",
    "get_flag",
    "infusion_rule",
    "list_flags",
    "missed_doses_rule",
    "missed_threshold",
    "monitoring_overdue_rule",
    "open_key",
    "pdc_rule",
    "raise_flag",
    "resolve",
    "resolve_attended",
    "resolve_recorded",
    "silence_rule",
    "sms_status_rule",
    "visit_overdue_rule",
    "visit_rules",
]
