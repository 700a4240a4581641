"""Bringing in what happened before the daemon: dose history and dispensing records."""
