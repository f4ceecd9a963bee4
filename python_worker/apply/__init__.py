"""Applying a plan: one reconcile with its journal, the reloads it needs, and the commands run on the system."""
