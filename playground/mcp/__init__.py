"""/mcp: the Model Context Protocol server."""
