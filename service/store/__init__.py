"""Storage: tables, the resource repository, search-to-SQL and migrations. Knows SQL, not HTTP."""
