"""Rendering a plan: Jinja2 hook texts (hooks.json) and MikoPBX records (records.json)."""
