"""The application, one folder per capability (README's "Code map"). Layers, each importing
only those below it (checked by import-linter contracts in pyproject.toml):

    cli | daemon | web       entry points, independent of each other (the CLI composes
                             the daemon and the web app in ``adherence run``)
    simulate                 virtual-time runs of the engine
    engine                   one tick: the steps in order
    bootstrap, metrics       builds settings/engine/catalog once; the daemon's gauges
    care                     flags, escalation, measures, exports, coordinators, audit
    patients | calendar      enrolment and roster; feeds, appointments, invitations
    dosing                   plans, materialise, rules, dispatch, confirm, replies
    messaging                outbox and delivery, receipts, e-mail
    core, storage            config, clock, tokens; tables, public models, db, UTC codec
"""

__version__ = "0.1.0"
