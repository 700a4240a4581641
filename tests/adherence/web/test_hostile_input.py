"""Hostile input seen from outside, over real HTTP on SQLite and PostgreSQL: integers beyond
64 bits, dates near the year 9999, Twilio webhooks without their fields, and bodies over the
cap (declared or streamed chunk by chunk), each answered 4xx before anything is read or
written."""

from __future__ import annotations

import re
import socket
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pytest

from adherence.web.api.deps import MAX_ID
from adherence.web.limits import DEFAULT_LIMIT, WEBHOOK_LIMIT
from tests.adherence.web.conftest import Served

HUGE = str(2**70)


# --- integers and dates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/patients", {"offset": HUGE}),
        ("/api/v1/patients", {"offset": str(2**63)}),
        ("/api/v1/flags", {"patient_id": HUGE}),
        ("/api/v1/flags", {"patient_id": str(2**31)}),
        (f"/api/v1/patients/{HUGE}", {}),
        (f"/api/v1/plans/{2**40}", {}),
    ],
)
def test_an_integer_beyond_the_bounds_is_a_422_naming_the_parameter(
    served: Served, path: str, params: dict[str, str]
) -> None:
    answer = served.client.get(path, params=params, headers=served.auth)
    assert answer.status_code == 422, answer.text
    [name] = params or ["plan_id" if "plans" in path else "patient_id"]
    assert [e["loc"][-1] for e in answer.json()["detail"]] == [name]


def test_the_openapi_document_states_every_integer_parameters_bounds(served: Served) -> None:
    doc = served.client.get("/openapi.json").json()
    ints = [
        (path, p["name"], _schema(p))
        for path, item in doc["paths"].items()
        for op in item.values()
        for p in op.get("parameters", [])
        if _schema(p).get("type") == "integer"
    ]
    assert len(ints) >= 10
    for path, name, schema in ints:
        assert "minimum" in schema and "maximum" in schema, (path, name)
        assert isinstance(schema["maximum"], int) and schema["maximum"] < 2**63, (path, name)


def _schema(param: dict[str, object]) -> dict[str, object]:
    schema = param["schema"]
    assert isinstance(schema, dict)
    for option in schema.get("anyOf", []):  # an optional integer: integer or null
        if option.get("type") == "integer":
            return dict(option)
    return schema


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-01-01", "9999-12-31", "to"),
        ("9999-12-30", "9999-12-31", "from"),
        ("0001-01-01", "0001-01-02", "from"),
    ],
)
def test_an_export_reaching_the_end_of_the_calendar_is_refused_before_the_first_byte(
    served: Served, start: str, end: str, field: str
) -> None:
    for fmt in ("csv", "json", "fhir"):
        answer = served.client.get(
            "/api/v1/exports",
            params={"format": fmt, "from": start, "to": end},
            headers=served.auth,
        )
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["loc"] == ["query", field] and "between" in error["msg"]
    doses = served.client.get(
        f"/api/v1/patients/{served.patient_id}/doses",
        params={"from": start, "to": end},
        headers=served.auth,
    )
    assert doses.status_code == 422


def test_an_export_up_to_the_last_allowed_date_streams_whole(served: Served) -> None:
    answer = served.client.get(
        "/api/v1/exports",
        params={"format": "fhir", "from": "2197-01-01", "to": "2199-12-31"},
        headers=served.auth,
    )
    assert answer.status_code == 200
    assert answer.json()["resourceType"] == "Bundle"
    assert date(2199, 12, 31).isoformat() in answer.headers["Content-Disposition"]


# --- the webhooks' fields ---------------------------------------------------------------------

SMS = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"


@pytest.mark.parametrize(
    ("path", "params", "missing"),
    [
        (SMS, {"From": "+12025550143", "Body": "T"}, "MessageSid"),
        (SMS, {"MessageSid": "SM1", "Body": "T"}, "From"),
        (SMS, {"MessageSid": "SM1", "From": "+12025550143"}, "Body"),
        (SMS, {}, "From, Body, MessageSid"),
        (STATUS, {"MessageSid": "SM1"}, "MessageStatus"),
        (STATUS, {"MessageStatus": "delivered"}, "MessageSid"),
        (STATUS, {}, "MessageSid, MessageStatus"),
    ],
)
def test_a_signed_webhook_without_twilios_fields_is_a_400_naming_them(
    served: Served, path: str, params: dict[str, str], missing: str
) -> None:
    answer = served.client.post(path, data=params, headers=served.signed(path, params))
    assert answer.status_code == 400
    assert answer.text == f"missing field(s): {missing}"
    assert served.inbound() == []


def test_a_picture_only_text_with_an_empty_body_is_recorded(served: Served) -> None:
    params = {"MessageSid": "SMpic", "From": "+12025550199", "Body": ""}
    answer = served.client.post(SMS, data=params, headers=served.signed(SMS, params))
    assert answer.status_code == 200
    assert [m.provider_sid for m in served.inbound()] == ["SMpic"]


# --- bodies over the cap, before they are read ------------------------------------------------


def _raw(served: Served, head: bytes, chunks: list[bytes]) -> bytes:
    """Send ``head`` then ``chunks`` on one socket (stopping if the server hangs up) and
    return what the server answered. The body is never finished: an answer proves the server
    did not wait to read it all."""
    where = urlsplit(served.client.base)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer:
                    break
        except ConnectionResetError:
            pass
    return answer


@pytest.mark.parametrize("path", [SMS, "/api/v1/flags/1/ack", "/workspace/signin"])
def test_a_declared_64_mb_body_is_refused_without_reading_it(served: Served, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {64 * 1024 * 1024}\r\n\r\n"
    ).encode()
    answer = _raw(served, head, [b"a" * 1024])  # 1 KiB of the 64 MiB announced, then silence
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert served.inbound() == []


@pytest.mark.parametrize(
    ("path", "limit"), [(SMS, WEBHOOK_LIMIT), ("/api/v1/flags/1/ack", DEFAULT_LIMIT)]
)
def test_a_chunked_body_is_refused_once_it_passes_the_cap(
    served: Served, path: str, limit: int
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"Body=" + b"a" * (16 * 1024 - 5)
    n = limit // len(piece) + 2  # just past the cap, and the last chunk never comes
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(n)]
    answer = _raw(served, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert served.inbound() == []


def test_a_body_under_the_cap_still_arrives_whole(served: Served) -> None:
    # Just under the webhook cap: read, and refused for its signature, not its size.
    params = {"MessageSid": "SMbig", "From": "+12025550199", "Body": "x" * (WEBHOOK_LIMIT - 200)}
    answer = served.client.post(SMS, data=params, headers={"X-Twilio-Signature": "nope"})
    assert answer.status_code == 403
    signed = served.client.post(SMS, data=params, headers=served.signed(SMS, params))
    assert signed.status_code == 200


# --- the OpenAPI document tells the truth -----------------------------------------------------


def _operations(served: Served) -> list[tuple[str, str, dict[str, Any]]]:
    doc = served.client.get("/openapi.json").json()
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def _url(path: str, ident: int) -> str:
    return re.sub(r"\{\w+\}", str(ident), path)


def test_every_api_operation_documents_the_401_and_404_it_answers(served: Served) -> None:
    api = [(m, p, op) for m, p, op in _operations(served) if p.startswith("/api/v1")]
    assert len(api) >= 14
    for method, path, op in api:
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"], path
        call = served.client.get if method == "get" else served.client.post
        assert call(_url(path, 1), params={"patient_id": 1}).status_code == 401, path
        names = {p["name"] for p in op.get("parameters", [])}
        if "{" in path or "patient_id" in names:
            assert "404" in op["responses"], (method, path)
            params = {"format": "csv", "from": "2026-01-01", "to": "2026-01-02"}
            if "{" not in path:
                params["patient_id"] = str(MAX_ID)
            body = (
                {"dispensed": "2026-03-05", "days_supply": 30}
                if path.endswith("/supply")
                else {"note": "x"}
            )
            answer = call(_url(path, MAX_ID), params=params, headers=served.auth, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        else:
            assert "404" not in op["responses"], (method, path)


def test_the_date_rules_that_answer_422_are_in_the_document(served: Served) -> None:
    dated = [
        (p, op)
        for _, p, op in _operations(served)
        if {"from", "to"} <= {q["name"] for q in op.get("parameters", [])}
    ]
    assert len(dated) == 4
    for path, op in dated:
        rules = op["responses"]["422"]["description"]
        assert "`to` before `from`" in rules and "2199-12-31" in rules, path
        params = {"format": "csv", "from": "2026-03-02", "to": "2026-03-01"}
        answer = served.client.get(
            _url(path, served.patient_id), params=params, headers=served.auth
        )
        assert answer.status_code == 422, path
        assert "before" in answer.json()["detail"][0]["msg"]


def test_metrics_and_the_webhooks_are_described_as_they_answer(served: Served) -> None:
    ops = {(m, p): op for m, p, op in _operations(served)}
    [media] = ops["get", "/metrics"]["responses"]["200"]["content"]
    assert served.client.get("/metrics").headers["Content-Type"] == media
    assert media.startswith("text/plain")
    sms, status = ops["post", SMS], ops["post", STATUS]
    form = sms["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["MessageSid", "From", "Body"]
    assert list(sms["responses"]["200"]["content"]) == ["application/xml"]
    assert "204" in status["responses"] and "200" not in status["responses"]
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert (
        served.client.post(STATUS, data=params, headers=served.signed(STATUS, params)).status_code
        == 204
    )
    for op in (sms, status):
        assert {"400", "403", "413"} <= set(op["responses"])
