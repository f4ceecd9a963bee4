"""The long-running worker: its loop, database watching, control endpoint, lamps, status and logging."""
