"""Dynamic debug: records, tables, the control language, the control file, print decisions."""
