"""crun as Sandpit's runs' backend, without Docker in the way (SANDBOX_BACKEND=crun).

- `spec`: the OCI configuration of a run sandbox, the hardening Docker gives its runtime;
- `rootfs`: Docker's images unpacked once into read-only root folders;
- `command`: crun's command lines, with this host's hybrid cgroup layout hidden from it;
- `runs`: run sandboxes (sandbox.backends.RunSandboxes), one `crun run` child each.

Images are still built and kept by Docker (sandbox/docker/images.py), and so are
runtime builds' steps.
"""
