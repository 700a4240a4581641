"""Neurology visits and MRI as bookable appointments: when each of the clinic's visit
types is next due for a patient (``due``), booking, moving, cancelling and recording them
(``booking``), and the reminder texts they send (``reminders``)."""
