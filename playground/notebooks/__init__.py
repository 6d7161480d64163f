"""Notebooks: the playground's cells run in turn in one session of their owner, kept
with the call that last ran each, and shown read-only to whoever may see them."""
