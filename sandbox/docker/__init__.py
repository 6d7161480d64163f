"""Docker as Sandpit's backend: every call of the docker SDK is in this package.

- `connection`: the client, its thread pool, its error mapping, this instance's labels;
- `hardening`: the one hardened host configuration of runs and build steps alike;
- `runs`: run sandboxes (sandbox.backends.RunSandboxes);
- `builds`: build steps' sandboxes (sandbox.backends.BuildSandboxes), on top of
- `images`: building, importing, sizing and removing images (sandbox.backends.ImageStore).

A remote engine (DOCKER_HOST) or gVisor (`runtime="runsc"`) is a setting of these;
another backend is a package beside this one.
"""
