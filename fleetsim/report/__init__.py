"""Exporters of finished runs: files (JSON, CSV) and the terminal (rich)."""
