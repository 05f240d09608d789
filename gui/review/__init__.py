"""The review window: session logs in a table, record details, verification, CSV and PDF export.

Importing this package loads no Qt; :mod:`gui.review.window` does.
"""
