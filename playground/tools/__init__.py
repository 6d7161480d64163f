"""Tools: saved, versioned functions, and the checks of their schemas and inputs."""
