"""Foundations: validated settings (``config``), the clock (``clock``), unguessable tokens
(``tokens``). Imports nothing else of ``adherence``."""
