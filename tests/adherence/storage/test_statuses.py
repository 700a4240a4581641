"""Status names: the enums in ``adherence.storage.models`` store exactly the strings the rows have
always held (no schema change), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from adherence.dosing.materialize import materialize
from adherence.storage.models import (
    DOSE_FINAL,
    DOSE_OPEN,
    FLAG_OPEN,
    AppointmentStatus,
    Dose,
    DoseStatus,
    FlagStatus,
    OutboxStatus,
    PlanStatus,
    SmsStatus,
)
from schedules import Catalog
from tests.adherence.engine_helpers import enroll


def test_every_status_is_its_stored_string() -> None:
    assert [s.value for s in DoseStatus] == [
        "scheduled", "reminded", "taken", "skipped", "missed", "cancelled",
    ]  # fmt: skip
    assert DoseStatus.MISSED == "missed" and f"{DoseStatus.MISSED}" == "missed"
    assert json.dumps({"status": DoseStatus.TAKEN}) == '{"status": "taken"}'
    assert set(DOSE_OPEN) == {"scheduled", "reminded"}
    # One "final" set: an outcome is recorded. Cancelled doses left the schedule instead.
    assert set(DOSE_FINAL) == {"taken", "skipped", "missed"}
    assert not set(DOSE_OPEN) & set(DOSE_FINAL)
    assert set(DoseStatus) - set(DOSE_OPEN) - set(DOSE_FINAL) == {DoseStatus.CANCELLED}
    assert set(FLAG_OPEN) == {"open", "acknowledged"} and FlagStatus.RESOLVED == "resolved"
    assert {"pending", "sending", "sent", "not_sent", "expired"} <= set(OutboxStatus)
    assert set(SmsStatus) == {"active", "opted_out", "undeliverable"}
    assert set(PlanStatus) == {"active", "paused", "stopped", "completed"}
    assert set(AppointmentStatus) == {"booked", "cancelled", "done"}


def test_members_are_written_and_queried_as_plain_strings(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(session, catalog, "teriflunomide", date(2026, 3, 2), now=t0, times=["09:00"])
    materialize(session, now=t0, catalog=catalog, horizon_days=5)
    first, second, *_ = session.exec(
        select(Dose).where(Dose.plan_id == e.plan.id).order_by(col(Dose.due_at))
    ).all()
    first.status = DoseStatus.MISSED
    second.status = DoseStatus.REMINDED
    session.add_all([first, second])
    session.commit()
    rows = session.connection().execute(
        text("SELECT id, status FROM dose WHERE id IN (:a, :b)"),
        {"a": first.id, "b": second.id},
    )
    raw = {row[0]: row[1] for row in rows}
    assert raw == {first.id: "missed", second.id: "reminded"}
    assert type(raw[first.id]) is str
    open_ids = session.exec(
        select(Dose.id).where(Dose.plan_id == e.plan.id, col(Dose.status).in_(DOSE_OPEN))
    ).all()
    assert first.id not in open_ids and second.id in open_ids
    final = session.exec(select(Dose.id).where(col(Dose.status).in_(DOSE_FINAL))).all()
    assert final == [first.id]
