"""Sessions: a sandbox kept for one owner, whose calls share state like a notebook's
cells; opened, called, paused, resumed and ended through the one intake and services,
kept up (idle pauses, retention, restarts) in the background."""
