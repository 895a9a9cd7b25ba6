"""Anomaly detection on every series, with drivers, incidents and a triage workflow.

The detectors (``detect``, ``detect_many``) are pure: pandas in, pandas out, no ORM.
"""

from .detect import detect, detect_many

__all__ = ["detect", "detect_many"]
