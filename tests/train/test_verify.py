"""Checkpoints verify themselves: checksums, headers, finite values, the caller's check; fallback with a warning."""
import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from rnnkit.train import CheckpointWarning, load_checkpoint, save_checkpoint
from rnnkit.train.integrity import state_bytes
from tiny_tasks import TinyLM, TinyLMConfig

FILES = ("model.safetensors", "optimizer.safetensors", "carry.safetensors", "state.json")


def two_checkpoints(run_dir):
    """ckpt-000001 (step 1) and ckpt-000002 (step 2), each with optimizer and carry files."""
    torch.manual_seed(0)
    model = TinyLM(TinyLMConfig(vocab=5, hidden=4))
    for step in (1, 2):
        with torch.no_grad():
            model.out.bias.fill_(step)
        save_checkpoint(run_dir, model, metadata={"vocabulary": ["<unk>", "a"]}, state={"step": step},
                        tensors={"optimizer": {"0.exp_avg": torch.full((3,), float(step))},
                                 "carry": {"0.0": torch.ones(2, 4) * step}})
    return run_dir / "checkpoints" / "ckpt-000001", run_dir / "checkpoints" / "ckpt-000002"


def loads_older(run_dir, match):
    with pytest.warns(CheckpointWarning, match=match) as caught:
        loaded = load_checkpoint(run_dir)
    assert loaded.step == 1 and torch.equal(loaded.weights["out.bias"], torch.ones(5))
    return caught


@pytest.mark.parametrize("name, damage, reason", [
    ("model.safetensors", lambda b: b[: len(b) // 2], "model.safetensors: .* bytes, state.json says .*truncated"),
    ("model.safetensors", lambda b: b"", "model.safetensors: 0 bytes"),
    ("optimizer.safetensors", lambda b: b"", "optimizer.safetensors: 0 bytes"),
    ("carry.safetensors", lambda b: b[:-1] + bytes([b[-1] ^ 1]), "carry.safetensors: its SHA-256 does not match"),
    ("state.json", lambda b: b.replace(b'"step": 2', b'"step": 3'), "state.json: its bytes do not match its digest"),
    ("state.json", lambda b: b[:100], "state.json: not valid JSON"),
    ("state.json", lambda b: b[:-3] + b'0"}', "state.json: its bytes do not match its digest"),
])
def test_a_damaged_newest_checkpoint_falls_back_to_the_older_one(tmp_path, name, damage, reason):
    older, newest = two_checkpoints(tmp_path)
    (newest / name).write_bytes(damage((newest / name).read_bytes()))
    caught = loads_older(tmp_path, f"checkpoint {newest} is unusable \\({reason}.*\\); using the older {older}")
    assert len(caught) == 1


def test_nan_bytes_in_the_weights_are_found(tmp_path):
    """NaN written over a weight, with the checksums redone (as a tool rewriting the file would)."""
    older, newest = two_checkpoints(tmp_path)
    weights = load_checkpoint(newest).weights
    weights["out.bias"][0] = float("nan")
    data = save(weights)
    state = json.loads((newest / "state.json").read_bytes())
    del state["digest"]
    state["files"]["model.safetensors"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (newest / "model.safetensors").write_bytes(data)
    (newest / "state.json").write_bytes(state_bytes(state))
    loads_older(tmp_path, "model.safetensors: tensor 'out.bias' holds NaN or infinite values")


def test_a_checkpoint_with_nan_is_not_written(tmp_path):
    model = TinyLM()
    with torch.no_grad():
        model.out.bias[0] = float("inf")
    with pytest.raises(ValueError, match="model: tensor 'out.bias' holds NaN or infinite values"):
        save_checkpoint(tmp_path, model)
    with pytest.raises(ValueError, match="tensors\\['optimizer'\\]: tensor 'm' holds NaN"):
        save_checkpoint(tmp_path, TinyLM(), tensors={"optimizer": {"m": torch.tensor([float("nan")])}})
    assert not (tmp_path / "checkpoints").exists()


def test_a_missing_optional_file_is_reported_not_fatal(tmp_path):
    _, newest = two_checkpoints(tmp_path)
    (newest / "optimizer.safetensors").unlink()
    loaded = load_checkpoint(tmp_path)
    assert loaded.step == 2 and loaded.missing == ("optimizer",) and loaded.tensors("optimizer") == {}
    (newest / "model.safetensors").unlink()
    loads_older(tmp_path, "model.safetensors: missing")


def test_the_callers_check_chooses_among_good_checkpoints(tmp_path):
    older, newest = two_checkpoints(tmp_path)

    def only_step_one(checkpoint):
        if checkpoint.step != 1:
            raise ValueError("config: vocab 5 does not fit")

    with pytest.warns(CheckpointWarning, match=f"{newest} is unusable \\(config: vocab 5 does not fit\\)"):
        assert load_checkpoint(tmp_path, check=only_step_one).path == older
    with pytest.raises(ValueError, match="run_dir: no usable checkpoint in .*: ckpt-000002, ckpt-000001: nope"):
        load_checkpoint(tmp_path, check=lambda checkpoint: (_ for _ in ()).throw(ValueError("nope")))


def test_no_good_checkpoint_is_a_value_error_naming_each(tmp_path):
    older, newest = two_checkpoints(tmp_path)
    (older / "model.safetensors").write_bytes(b"")
    (newest / "state.json").write_bytes(b"{")
    with pytest.raises(ValueError, match="run_dir: no usable checkpoint in .*: ckpt-000002: state.json: .*; "
                                         "ckpt-000001: model.safetensors: 0 bytes"):
        load_checkpoint(tmp_path)


def test_checkpoints_of_the_first_format_still_load(tmp_path):
    older, newest = two_checkpoints(tmp_path)
    state = json.loads((newest / "state.json").read_bytes())
    for key in ("files", "digest"):
        del state[key]
    state["format"] = "rnnkit-checkpoint/1"
    (newest / "state.json").write_text(json.dumps(state))
    assert load_checkpoint(tmp_path).step == 2
    (newest / "model.safetensors").write_bytes(b"\x08" + bytes(7))
    loads_older(tmp_path, "model.safetensors: not a readable safetensors file")


# ---------------------------------------------------------------------------------- properties
@pytest.fixture(scope="module")
def pristine():
    with tempfile.TemporaryDirectory() as directory:
        two_checkpoints(Path(directory))
        yield {path.relative_to(directory): path.read_bytes() for path in Path(directory).rglob("*") if path.is_file()}


def damage(data, kind, position, value):
    position = position % max(len(data), 1)
    if kind == "truncate":
        return data[:position]
    if kind == "flip":
        return data[:position] + bytes([data[position] ^ value]) + data[position + 1:]
    return data[:position] + bytes(value) + data[position + value:]       # zero `value` bytes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FILES), kind=st.sampled_from(["truncate", "flip", "zero"]),
       position=st.integers(0, 10**6), value=st.integers(1, 255), both=st.booleans())
def test_damaged_bytes_never_load_silently(pristine, name, kind, position, value, both):
    """Truncating, flipping or zeroing bytes of a file of the newest checkpoint (and of the older one too
    when ``both``) loads the older checkpoint, or raises ValueError when none is good: never another error."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        changed = {}
        for relative, data in pristine.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            damaged = damage(data, kind, position, value) if path.name == name and (
                path.parent.name == "ckpt-000002" or both) else data
            changed[path.parent.name] = changed.get(path.parent.name, False) or damaged != data
            path.write_bytes(damaged)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                loaded = load_checkpoint(root)
            except ValueError:
                assert changed["ckpt-000002"] and changed["ckpt-000001"]
                return
        expected = 1 if changed["ckpt-000002"] else 2
        assert loaded.step == expected and [w.category for w in caught] == [CheckpointWarning] * (expected == 1)
        assert torch.equal(loaded.weights["out.bias"], torch.full((5,), float(expected)))


def test_only_rnnkit_checkpoints_are_pruned(tmp_path):
    foreign = tmp_path / "checkpoints" / "ckpt-000001"
    foreign.mkdir(parents=True)
    (foreign / "data.bin").write_bytes(b"mine")
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, TinyLM(), state={"step": step}, keep=1)
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["ckpt-000001", "ckpt-000004"]
    shutil.rmtree(foreign)
