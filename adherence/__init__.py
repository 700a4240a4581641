"""The application: storage, the engine, the daemon, the web app and the CLI."""

__version__ = "0.1.0"
