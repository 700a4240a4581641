"""Delivery channels: SMS (Twilio), e-mail (SMTP) and the iCalendar renderer.

Plain values in, plain results out. Never imports ``adherence``.
"""
