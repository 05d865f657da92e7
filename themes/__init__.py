"""Built-in themes (TOML files)."""
