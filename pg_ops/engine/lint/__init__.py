"""The row-level-security and schema linter: rules on pglast's parse tree and the catalog, with plan evidence."""
