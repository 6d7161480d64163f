"""Runtime builds: a revision's packages fetched, installed and checked, then an image.

- `manifests`: what a requirements.txt or package.json may say (checked before any build);
- `recipes`: the steps of a build and the image they end in;
- `steps`: one step as a sandbox: its mounts, its limits, its output;
- `disk`: a build's own filesystem, whose size and inodes the kernel holds it to;
- `indexes`: where packages may come from;
- `log`: a build's log, bounded and clean;
- `context`: the build folder as the host reads it (the image's context);
- `orchestrator`: builds in the background, capped, cancellable, streamed.
"""
