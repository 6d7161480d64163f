import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings

from sandbox import images
from sandbox.docker_adapter import DockerAdapter
from sandbox.engine import Engine, EngineConfig

# Containers of the test session carry their own instance label, so that tests never
# touch the containers of a server running beside them, nor it theirs.
TEST_INSTANCE = f"sandpit-test-{os.getpid()}"


@pytest.fixture(scope="session")
def base_image() -> Iterator[str]:
    adapter = DockerAdapter(instance=TEST_INSTANCE, timeout_s=settings.SANDBOX_DOCKER_TIMEOUT_S)
    try:
        yield images.ensure_base_image(adapter)
    finally:
        adapter.close()


@pytest.fixture(scope="session")
def engine_config(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> EngineConfig:
    return replace(
        EngineConfig.from_settings(),
        instance=TEST_INSTANCE,
        state_dir=Path(tmp_path_factory.mktemp("sandbox-state")),
        pool_size=2,
    )


@pytest.fixture(scope="session")
async def engine(engine_config: EngineConfig) -> AsyncIterator[Engine]:
    engine = Engine(engine_config)
    await engine.start()
    yield engine
    await engine.close()
    assert engine.adapter.instance_containers() == [], "the engine left containers behind"
    engine.adapter.close()
