"""The salesbot store: SQLModel tables, sessions, crud, DataFrame loaders and imports."""
