"""What is kept of a request: no credential, and no more than a budget of bytes."""

from playground.runs.masking import MASK, mask_request, trim_request


def test_credentials_and_env_values_are_masked() -> None:
    request = {
        "env": {"KEY": "secret"},
        "http": {"allow": [{"host": "a.test", "auth": {"bearer": {"token": "t0k"}}}]},
    }
    masked = mask_request(request)
    assert masked["env"] == {"KEY": MASK}
    assert masked["http"]["allow"][0]["auth"]["bearer"]["token"] == MASK
    assert request["env"] == {"KEY": "secret"}  # the caller's copy is untouched


def test_large_parts_are_cut_with_a_marker_within_the_budget() -> None:
    request = {
        "code": "x" * 5000,
        "stdin": "s" * 3000,
        "files": [{"path": "a", "contents": "a" * 3000}, {"path": "b", "contents": "b"}],
        "args": ["--x"],
    }
    trimmed = trim_request(request, max_bytes=4096)
    assert trimmed["code"] == request["code"]  # kept whole, elsewhere bounded
    assert trimmed["stdin"] == "s" * 3000
    assert trimmed["files"][0]["contents"].startswith("a" * 1096)
    assert trimmed["files"][0]["contents"].endswith("[Sandpit: 1904 more bytes not kept]")
    assert trimmed["files"][1]["contents"].startswith("\n[Sandpit: 1 more bytes")
    assert trimmed["files"][1]["path"] == "b"


def test_an_input_too_large_to_keep_becomes_a_marker() -> None:
    trimmed = trim_request({"input": list(range(2000))}, max_bytes=1024)
    assert trimmed["input"].startswith("[Sandpit: an input of")
    small = trim_request({"input": {"a": 1}}, max_bytes=1024)
    assert small["input"] == {"a": 1}


def test_a_cut_never_splits_a_character() -> None:
    trimmed = trim_request({"stdin": "é" * 10}, max_bytes=5)
    assert trimmed["stdin"].startswith("éé\n[Sandpit:")
