"""The HTTP service (FastAPI): Twilio webhooks, health and metrics."""

from adherence.web.app import create_app

__all__ = ["create_app"]
