"""The playground's pages, its run endpoint, WebSocket consumers, guests and the site's
middleware."""
