"""The databases: reading mikopbx.db (snapshot), the module's own module.db, and the module-owned rows it writes."""
