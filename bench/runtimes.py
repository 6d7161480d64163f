"""Benchmark: building the test runtimes, then the first and warm runs on a new revision.

    .venv/bin/python bench/runtimes.py

Builds through the engine's own builder (a `docker build` that runs pip or npm with the
host network) with Docker's build cache bypassed by a fresh manifest each time, then
times the first run on the new revision (its pool starts on demand) and warm runs after.
"""

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

import django

django.setup()

from dataclasses import replace  # noqa: E402

from django.contrib.auth.models import User  # noqa: E402

from sandbox import services  # noqa: E402
from sandbox.builds.orchestrator import runtime_builds  # noqa: E402
from sandbox.engine import Engine, EngineConfig, use_engine  # noqa: E402
from sandbox.jobs import Job, JobKind  # noqa: E402
from sandbox.languages import Language  # noqa: E402
from sandbox.models import RuntimeRevision  # noqa: E402

CASES = [
    (
        "python",
        "requirements.txt",
        "six==1.17.0\n# {nonce}\n",
        Language.PYTHON,
        "import six\ndef execute(input):\n    return six.__version__",
    ),
    (
        "javascript",
        "package.json",
        '{{"name": "b{nonce}", "dependencies": {{"is-number": "7.0.0"}}}}',
        Language.JAVASCRIPT,
        "const n = require('is-number');\nfunction execute(i) { return n(1); }",
    ),
]


async def main() -> None:
    engine = Engine(replace(EngineConfig.from_settings(), instance="sandpit-bench-runtimes"))
    use_engine(engine)  # what the services reach
    await engine.start()
    owner, _ = await User.objects.aget_or_create(username="bench-runtimes")
    print(f"{'runtime':<11} {'build s':>8} {'first run ms':>13} {'warm p50 ms':>12}")
    try:
        for language, manifest, contents, run_language, code in CASES:
            nonce = uuid.uuid4().hex[:8]  # a new manifest: no build cache
            started = time.perf_counter()
            runtime = await services.runtime_create(
                owner=owner,
                name=f"bench {language}",
                language=language,
                manifest_name=manifest,
                manifest_contents=contents.format(nonce=nonce),
            )
            revision_id = runtime.current_revision_id
            assert revision_id is not None
            await runtime_builds.wait(revision_id)
            build_s = time.perf_counter() - started
            revision = await RuntimeRevision.objects.aget(id=revision_id)
            assert revision.is_built, revision.build_log[-2000:]
            job = Job(
                kind=JobKind.FUNCTION, language=run_language, code=code, image=revision.image_tag
            )
            started = time.perf_counter()
            first = await engine.run(job)
            first_ms = (time.perf_counter() - started) * 1000
            assert first.output_status and first.output_status.value == "valid", first
            warm = []
            for _ in range(20):
                await asyncio.sleep(0.5)  # the revision's pool (size 1) refills
                started = time.perf_counter()
                await engine.run(job)
                warm.append((time.perf_counter() - started) * 1000)
            print(
                f"{language:<11} {build_s:>8.1f} {first_ms:>13.0f} {statistics.median(warm):>12.1f}"
            )
            await engine.release_image(revision.image_tag)
            await services.runtime_delete(runtime=runtime)
    finally:
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
