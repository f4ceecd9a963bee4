"""Pairing and directory sync between stations over CurveZMQ."""
