"""Org files into the CRM database: the bridge between `orgfile` (the file's models, which know
no SQL) and `db` (the tables, which know no org file); neither imports the other."""
