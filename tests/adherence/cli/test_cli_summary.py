"""`adherence summary PATIENT [--since DATE] --format html|pdf [--out FILE]`, run as the
installed console script against the seeded patient (SQLite and PostgreSQL): the PDF read
back with pdftotext, HTML on standard output, PDF refused on a terminal, one audit row."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.storage.models import AuditEvent
from schedules import Catalog
from tests.adherence.care.pdf_tools import pdf_of, pdf_pages, pdf_text, tool
from tests.adherence.care.summary_seed import Seeded, seed_patient
from tests.adherence.cli.test_cli_enrollment import Cli, one_error_line, write_config


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


@pytest.fixture
def seeded(engine: Engine, catalog: Catalog) -> Seeded:
    with Session(engine, expire_on_commit=False) as s:
        return seed_patient(s, catalog)


def audits(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def test_summary_writes_a_pdf_and_prints_html_and_is_audited(
    cli: Cli, engine: Engine, seeded: Seeded, tmp_path: Path
) -> None:
    tool("pdftotext")
    pdf_of("<p>WeasyPrint and Pango are here</p>")  # else skipped (failed under CI)
    pdf = tmp_path / "visit.pdf"
    pid = seeded.patient.id
    made, html = cli.run_all(
        ["summary", "MRN-4711", "--since", "2025-12-03", "--format", "pdf", "--out", str(pdf)],
        ["summary", str(pid), "--since", "2025-12-03", "--format", "html", "--paper", "letter"],
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout == "" and pdf.read_bytes().startswith(b"%PDF-")
    text = re.sub(r"[ \t]+", " ", pdf_text(pdf))
    assert "Visit summary: Patient 0" in text and "MRN MRN-4711" in text
    assert "teriflunomide (Aubagio)" in text and "! OVERDUE" in text
    pages = pdf_pages(pdf)
    assert f"Page 1 of {pages}" in text
    assert html.returncode == 0, html.stderr
    assert html.stdout.startswith("<!DOCTYPE html>") and "size: letter" in html.stdout
    assert "Adherence by month" in html.stdout
    rows = [a for a in audits(engine) if a.action == "export"]
    assert sorted(a.resource for a in rows) == [
        f"patient:{pid}/summary:html",
        f"patient:{pid}/summary:pdf",
    ]
    assert all(a.patient_id == pid and a.actor.startswith("cli:") for a in rows)
    assert all('"since": "2025-12-03"' in a.details_json for a in rows)


def test_summary_pdf_goes_to_a_pipe_but_never_to_a_terminal(
    cli: Cli, engine: Engine, seeded: Seeded
) -> None:
    pdf_of("<p>WeasyPrint and Pango are here</p>")
    args = ["summary", "MRN-4711", "--format", "pdf", "--config", str(cli.config)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERENCE_")}
    piped = subprocess.run(cli._command(args, False), capture_output=True, check=False,
                           timeout=120, cwd=cli.cwd, env=env)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith(b"%PDF-")
    leader, follower = pty.openpty()
    try:
        tty = subprocess.run(cli._command(args, False), stdout=follower, stderr=subprocess.PIPE,
                             check=False, timeout=120, cwd=cli.cwd, env=env)  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    assert tty.returncode != 0
    assert tty.stderr.decode().strip() == (
        "error: --format pdf: standard output is a terminal; give --out FILE or redirect it"
    )
    assert [a.resource for a in audits(engine)] == [f"patient:{seeded.patient.id}/summary:pdf"]


def test_summary_refusals_name_the_option(cli: Cli, engine: Engine, seeded: Seeded) -> None:
    results = cli.run_all(
        ["summary", "MRN-4711", "--format", "docx"],
        ["summary", "MRN-4711", "--since", "last spring"],
        ["summary", "MRN-4711", "--since", "2999-01-01"],
        ["summary", "MRN-0000"],
        ["summary", "MRN-4711", "--paper", "a3"],
        ["summary", "MRN-4711", "--format", "pdf", "--out", "/nonexistent/dir/x.pdf"],
    )
    lines = [one_error_line(r) for r in results]
    assert "--format 'docx' is not one of html, pdf" in lines[0]
    assert "--since 'last spring' is not a date" in lines[1]
    assert "--since 2999-01-01 is after today" in lines[2]
    assert "MRN-0000" in lines[3]
    assert "--paper 'a3' is not one of a4, letter" in lines[4]
    assert "does not exist" in lines[5]
    assert audits(engine) == []
