"""The only ways out of a sandbox: host-side proxies that hold an allow-list.

Containers never have a network. A proxy listens on a Unix socket in a folder that is
bind-mounted into the container, and a forwarder inside relays 127.0.0.1 to it. Builds
use `tunnel.TunnelProxy` (CONNECT to the package indexes only); runs with `http.allow`
use `proxy.EgressProxy` (HTTP and HTTPS to their listed hosts, credentials added,
every request logged), set up by `runs.RunEgress`.
"""
