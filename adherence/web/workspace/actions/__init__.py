"""The patient page's action sections, one module per job: ``context`` (what the sections
show), ``forms`` (ids, fields, notices and the page answering a refused form),
``appointments`` (book, move, cancel), ``feed`` (a new calendar link), ``exports`` (this
patient's data as a download), ``doses`` (a dose entered or corrected).
``adherence.web.workspace.patient_actions`` is the entry the workspace uses.
"""
