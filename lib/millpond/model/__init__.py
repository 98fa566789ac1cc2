"""Modelling helpers: Ibis expressions for the shapes every warehouse needs.

Import the module you need, e.g. ``from millpond.model import scd``. Each module is one
concept (deduplication, the date dimension, unknown members, slowly changing
dimensions, keys, ...); this package imports none of them.
"""
