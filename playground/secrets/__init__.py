"""Secrets: values runs use and nobody reads back, encrypted at rest."""
