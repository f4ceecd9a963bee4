"""The pure core: patterns, problems, configuration and station data, planning, directories. No I/O here."""
