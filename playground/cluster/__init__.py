"""Many nodes: membership and sweeps, health and metrics, the server's lifespan, the
database away."""
