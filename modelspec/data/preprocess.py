"""``train.data.preprocess: model``: the inputs' transform steps as Keras layers in front
of the graph, so the trained, saved and exported model takes raw inputs.

Each step becomes a Keras preprocessing layer (or operation) named
``<input>_<op>`` (``pixels_divide_by``; ``_2``, ``_3``... when the name is
taken): ``divide_by: x`` → ``Rescaling(1/x)``, ``standardize`` →
``Normalization`` with the training split's per-feature mean and variance,
``reshape`` → ``Reshape``, ``cast`` → ``keras.ops.cast``, ``one_hot: n`` →
``CategoryEncoding(n, output_mode="one_hot")``. They save and reload in safe
mode. The model is flat: its inputs are raw ``keras.Input`` tensors named as
the spec's inputs (the raw arrays' per-sample shape and dtype), then these
layers, then the spec's nodes as declared.

Example:
    >>> from modelspec import load_spec
    >>> from modelspec.data import load_data
    >>> spec = load_spec("specs/antirectifier_digits.yaml")
    >>> model = build_with_transforms(spec, load_data(spec))
    >>> [layer.name for layer in model.layers[:2]]
    ['pixels', 'pixels_divide_by']
    >>> transforms_in(model, spec)
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BuildError
from ..spec.schema import ModelSpec
from .common import Data, input_names, output_names
from .transforms import Stats, Step, plan_transforms, split_steps

if TYPE_CHECKING:
    import keras


def front_names(spec: ModelSpec, name: str, steps: Iterable[Step]) -> list[str]:
    """The layer names of input ``name``'s ``steps``: ``<input>_<op>``, made unique
    among the spec's node and input names (``_2``, ``_3``...)."""
    taken = {node.name for node in spec.layers} | set(input_names(spec))
    taken |= set(output_names(spec))
    names = []
    for step in steps:
        base = candidate = f"{name}_{step.op}"
        k = 2
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        names.append(candidate)
    return names


def model_steps(spec: ModelSpec) -> dict[str, list[Step]]:
    """``{input: steps}``: the steps ``preprocess: model`` makes layers of (the
    spec's transforms are checked, no data is read)."""
    if spec.train is None:
        return {}
    entry = spec.train.data
    ins = input_names(spec)
    plan = plan_transforms(spec, entry, [*ins, *output_names(spec)])
    found = {}
    for name in ins:
        steps = [s for s in split_steps(plan.get(name, []))[1] if s.op != "standardize" or s.arg]
        if steps:
            found[name] = steps
    return found


def transforms_in(model: keras.Model, spec: ModelSpec) -> bool:
    """Whether ``model`` has the spec's input transforms as layers (it takes raw
    inputs): a model trained with ``preprocess: data``, or before transforms
    went into models, has not."""
    names = {op.name for op in model.operations}
    return any(
        front_names(spec, name, steps)[0] in names for name, steps in model_steps(spec).items()
    )


def _layer(keras: Any, step: Step, name: str, tensor: Any, stats: Stats) -> Any:
    op, arg = step.op, step.arg
    if op == "divide_by":
        return keras.layers.Rescaling(1.0 / arg, name=name)(tensor)
    if op == "reshape":
        return keras.layers.Reshape(tuple(arg), name=name)(tensor)
    if op == "standardize":
        mean, std = stats[step.path]
        axis = tuple(range(1, mean.ndim + 1)) or None  # per feature, as on the arrays
        return keras.layers.Normalization(axis=axis, mean=mean, variance=std**2, name=name)(tensor)
    if op == "one_hot":
        encoding = keras.layers.CategoryEncoding(num_tokens=arg, output_mode="one_hot", name=name)
        return encoding(tensor)
    if op == "cast":
        return _cast(keras, tensor, arg, name)
    raise AssertionError(op)  # pragma: no cover - pad_sequences stays in the data


def _cast(keras: Any, tensor: Any, dtype: str, name: str) -> Any:
    out = keras.ops.cast(tensor, dtype)
    out._keras_history.operation.name = name
    return out


def build_with_transforms(
    spec: ModelSpec, data: Data, adapt_data: Mapping[str, Any] | None = None
) -> keras.Model:
    """The spec's model with :attr:`Data.in_model` steps as layers in front of its graph.

    Args:
        spec: The spec.
        data: Its data, loaded with ``preprocess: model``: the raw arrays give
            the raw inputs' shapes and dtypes, the training split the statistics.
        adapt_data: The training inputs as the graph sees them, for its ``adapt:``
            layers (:func:`modelspec.build.build_model`).

    Returns:
        The model (compiled as the spec says); as :func:`build_model` when no
        step is left for the model.

    Raises:
        BuildError: Keras refused a step (located at the step), or a node.
    """
    import keras

    from ..build import build_model
    from ..build.graph import keras_message

    if not data.in_model:
        return build_model(spec, adapt_data=adapt_data)

    front: dict[str, tuple[Any, Any]] = {}
    for declared in spec.inputs:
        steps = data.in_model.get(declared.name)
        if not steps:
            continue
        array = data.train.x[declared.name]
        raw = keras.Input(
            shape=array.shape[1:],
            dtype=str(array.dtype),
            batch_size=declared.batch_size,
            name=declared.name,
        )
        names = front_names(spec, declared.name, [*steps, Step("cast", None, ())])
        tensor = raw
        for step, name in zip(steps, names, strict=False):
            try:
                tensor = _layer(keras, step, name, tensor, data.stats)
            except Exception as err:
                message = f"cannot make {step.op} a layer of the model: {keras_message(err)}"
                raise BuildError([spec.document.diagnostic(step.path, message)]) from err
        if tensor.dtype != declared.dtype:  # as Keras casts what an Input is fed
            tensor = _cast(keras, tensor, declared.dtype, names[-1])
        front[declared.name] = (raw, tensor)
    return build_model(spec, front=front, adapt_data=adapt_data)
