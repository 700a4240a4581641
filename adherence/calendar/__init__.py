"""Calendars: the subscribed iCalendar feeds, their links and cached renders (``feed``),
clinic appointments inside the label's window (``appointments``) and their e-mail
invitations (``invitations``). May import ``core``, ``storage``, ``messaging``, ``dosing``."""
