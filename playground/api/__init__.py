"""The Riza-compatible /v1 HTTP API (see shared/API.md)."""
