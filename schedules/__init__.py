"""Dosing patterns for MS therapies: the catalog and its expansion to local dose times.

Pure: standard library and zoneinfo only. Nothing here touches a database, the network,
files outside the packaged catalog, or the clock; callers pass every date and zone in.
"""

from __future__ import annotations

from schedules.catalog import Catalog, CatalogError, Therapy, UnknownTherapy, load_catalog
from schedules.expand import expand
from schedules.items import Item
from schedules.localtime import local_instant
from schedules.options import OptionError
from schedules.pieces import Regimen

__all__ = [
    "Catalog",
    "CatalogError",
    "Item",
    "OptionError",
    "Regimen",
    "Therapy",
    "UnknownTherapy",
    "expand",
    "load_catalog",
    "local_instant",
]
