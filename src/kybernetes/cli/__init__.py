"""The `kyb` command line."""
