"""``Model(inputs, outputs)``: a graph of layer calls recorded on KerasTensors, replayed on data.

The layers are ordered as Keras orders them (by depth from the outputs, inputs first; ties by
first visit), so ``get_weights`` and Keras' ``.weights.h5`` files line up with Keras' own model.
"""
from __future__ import annotations

import collections
from typing import Any

import torch
from torch import nn

from ..layers.base import Layer
from ..layers.input import InputLayer
from ..layers.symbolic import KerasTensor, Node, flatten, map_structure
from .model import Model


def _graph(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> tuple[list[Node], list[Layer]]:
    """Nodes in execution order and layers in Keras' order (Keras' ``map_graph``)."""
    finished: set[int] = set()
    in_progress: set[int] = set()
    ordered: list[Node] = []
    first_visit: dict[int, int] = {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor: KerasTensor) -> None:
        node = tensor.node
        if id(node) in finished:
            return
        if id(tensor) in input_ids and not isinstance(node.layer, InputLayer):
            finished.add(id(node))
            return
        if id(node) in in_progress:
            raise ValueError(f"outputs: the graph has a cycle through layer {node.layer.name!r}")
        first_visit.setdefault(id(node.layer), len(first_visit))
        in_progress.add(id(node))
        for parent in node.inputs:
            visit(parent)
        in_progress.discard(id(node))
        finished.add(id(node))
        ordered.append(node)

    for tensor in outputs:
        visit(tensor)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, Layer] = {}
    producers = {id(t): t.node for node in ordered for t in flatten(node.outputs) if isinstance(t, KerasTensor)}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)], node_depth[id(node)] = depth, depth
        layers[id(node.layer)] = node.layer
        for parent in node.inputs:
            parent_node = producers.get(id(parent))
            if parent_node is not None:
                node_depth[id(parent_node)] = max(depth + 1, node_depth.get(id(parent_node), 0))
    for tensor in inputs:
        if id(tensor.node.layer) not in layer_depth:
            layer_depth[id(tensor.node.layer)], layers[id(tensor.node.layer)] = 0, tensor.node.layer
            first_visit[id(tensor.node.layer)] = -1
    by_depth = collections.defaultdict(list)
    for key, depth in layer_depth.items():
        by_depth[depth].append(layers[key])
    order = [layer for depth in sorted(by_depth, reverse=True)
             for layer in sorted(by_depth[depth], key=lambda l: first_visit[id(l)])]
    return ordered, order


class Functional(Model):
    """A model over a recorded graph: ``Model(inputs=Input(...) or a list, outputs=tensor or a list)``.

    Calling it takes one tensor per input (a list, or a dict by input name) and returns the outputs in
    the structure given. Layers may be shared (called more than once).
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True, **kwargs: Any):
        super().__init__(name=name, trainable=trainable, **kwargs)
        flat_inputs, flat_outputs = flatten(inputs), flatten(outputs)
        for argument, tensors in (("inputs", flat_inputs), ("outputs", flat_outputs)):
            if not tensors or not all(isinstance(t, KerasTensor) for t in tensors):
                raise ValueError(f"{argument}: expected KerasTensors from Input() and layer calls, got {tensors!r}")
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._inputs, self._outputs = flat_inputs, flat_outputs
        nodes, layers = _graph(flat_inputs, flat_outputs)
        known = {id(t) for t in flat_inputs}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and id(node.outputs) not in known:
                raise ValueError(f"inputs: the outputs depend on input {node.layer.name!r}, which is not in inputs")
        self._nodes = [node for node in nodes if not isinstance(node.layer, InputLayer)]
        self.stack = nn.ModuleList(layers)
        self.built = True

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._outputs)

    @property
    def output_layers(self) -> list[Layer]:
        return [t.node.layer for t in self._outputs]

    def call(self, inputs: Any) -> Any:
        if isinstance(inputs, dict):
            inputs = [inputs[t.node.layer.name] for t in self._inputs]
        flat = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self._inputs):
            raise ValueError(f"inputs: {self.name} takes {len(self._inputs)} inputs, got {len(flat)}")
        values: dict[int, Any] = {id(t): v for t, v in zip(self._inputs, flat)}

        def value(leaf: Any) -> Any:
            return values[id(leaf)] if isinstance(leaf, KerasTensor) else leaf

        for node in self._nodes:
            result = node.layer(*map_structure(value, node.args), **map_structure(value, node.kwargs))
            for symbol, tensor in zip(flatten(node.outputs), flatten(result)):
                if isinstance(symbol, KerasTensor):
                    values[id(symbol)] = tensor
        return map_structure(value, self._outputs_struct)

    def get_config(self) -> dict:
        """The layers and the recorded calls; KerasTensors as ``{"keras_tensor": k}`` in creation order."""
        from ..serialization import serialize_layer
        index: dict[int, int] = {}
        for tensor in self._inputs:
            index[id(tensor)] = len(index)
        calls = []

        def ref(leaf: Any) -> Any:
            if isinstance(leaf, KerasTensor):
                return {"keras_tensor": index[id(leaf)]}
            if isinstance(leaf, torch.Tensor):
                raise ValueError(f"{self.name}: cannot save a tensor argument of a layer call in a config")
            return leaf

        for node in self._nodes:
            calls.append({"layer": node.layer.name, "args": map_structure(ref, list(node.args)),
                          "kwargs": map_structure(ref, node.kwargs)})
            for tensor in flatten(node.outputs):
                if isinstance(tensor, KerasTensor):
                    index[id(tensor)] = len(index)
            calls[-1]["outputs"] = map_structure(ref, node.outputs)
        config = super().get_config()
        config.update(layers=[serialize_layer(layer) for layer in self.stack if not isinstance(layer, InputLayer)],
                      inputs=[{"name": t.node.layer.name, **t.node.layer.get_config()} for t in self._inputs],
                      input_structure=map_structure(ref, self._inputs_struct), calls=calls,
                      outputs=map_structure(ref, self._outputs_struct))
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Functional":
        from ..serialization import deserialize_layer
        layers = {spec["config"]["name"]: deserialize_layer(spec) for spec in config["layers"]}
        tensors = [InputLayer(**{k: v for k, v in spec.items() if k != "dtype"},
                              dtype=spec.get("dtype")).output for spec in config["inputs"]]

        def resolve(tree: Any) -> Any:
            if isinstance(tree, dict) and "keras_tensor" in tree:
                return tensors[tree["keras_tensor"]]
            if isinstance(tree, dict):
                return {key: resolve(part) for key, part in tree.items()}
            if isinstance(tree, (list, tuple)):
                return type(tree)(resolve(part) for part in tree)
            return tree

        for call in config["calls"]:
            result = layers[call["layer"]](*resolve(call["args"]), **resolve(call["kwargs"]))
            tensors.extend(t for t in flatten(result) if isinstance(t, KerasTensor))
        return cls(resolve(config["input_structure"]), resolve(config["outputs"]), name=config.get("name"),
                   trainable=config.get("trainable", True))
