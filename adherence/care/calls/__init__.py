"""The call list: who needs a person today (``queue``), and the results of the calls
(``results``). Plain functions over a Session, a team, ``now`` and the settings; the
workspace's Today page is their only caller so far."""

from adherence.care.calls.queue import (
    SUPPLY,
    TIERS,
    CallList,
    CallRow,
    LastCall,
    Reason,
    call_list,
    flag_reason,
    on_list,
    supply_reason,
    tier_of,
)
from adherence.care.calls.results import (
    OUTCOME_WORDS,
    OUTCOMES,
    CallError,
    CallNotFound,
    record_call,
    requeue_at,
)

__all__ = [
    "OUTCOMES",
    "OUTCOME_WORDS",
    "SUPPLY",
    "TIERS",
    "CallError",
    "CallList",
    "CallNotFound",
    "CallRow",
    "LastCall",
    "Reason",
    "call_list",
    "flag_reason",
    "on_list",
    "record_call",
    "requeue_at",
    "supply_reason",
    "tier_of",
]
