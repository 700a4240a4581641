"""Outgoing and incoming messages: the outbox and its one delivery loop for every channel
(``outbox``), Twilio status receipts and in-flight reconciliation (``receipts``), the e-mail
channel's set-up and delivery (``mail``). May import ``core`` and ``storage`` (and
``notifiers``)."""
