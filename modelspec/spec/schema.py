"""The structure of a spec, as Pydantic models.

Read after the loader. These models check a spec's shape (which keys, which
types); the layer-specific checks (arguments against each layer type's
signature, the graph) are in :mod:`modelspec.spec.validate`, which needs them.

Example:
    >>> spec = ModelSpec.model_validate({
    ...     "modelspec": 1, "name": "tiny",
    ...     "inputs": [{"name": "x", "shape": [4]}],
    ...     "layers": [{"name": "out", "type": "Dense", "units": 2}],
    ...     "outputs": ["out"],
    ... })
    >>> spec.layers[0].args
    {'units': 2}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
)

from .loader import Document

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
#: What a node name may look like (Keras layer names, no ``/`` or spaces).
Name = Annotated[StrictStr, Field(pattern=NAME_PATTERN)]
#: A reference to a node's output: ``name`` or ``name[index]``.
Ref = StrictStr
#: A call argument that is not a tensor: ``use_causal_mask: true``, ``training: false``.
CallLiteral = StrictBool | StrictInt | StrictFloat | None
#: ``inputs:`` of a node: a name, a list passed as one argument, or call arguments.
InputsField = Ref | list[Ref] | dict[StrictStr, Ref | list[Ref] | CallLiteral]
AddLossFn = Literal["mean_square", "mean_abs", "sum_square", "sum_abs", "mean", "sum"]
#: Reductions an ``add_loss`` term (the ``AddLoss`` layer) can apply.
ADD_LOSS_FUNCTIONS: tuple[str, ...] = AddLossFn.__args__  # type: ignore[attr-defined]


#: A random seed: NumPy and Optuna's samplers take 0 to 2**32 - 1.
Seed = Annotated[StrictInt, Field(ge=0, lt=2**32)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InputSpec(_Strict):
    """A model input: ``{name: pixels, shape: [64]}`` (batch dimension excluded)."""

    name: Name
    shape: list[Annotated[int, Field(gt=0)] | None]
    dtype: StrictStr = "float32"
    sparse: bool = False
    batch_size: Annotated[int, Field(gt=0)] | None = None


class AddLossSpec(_Strict):
    """An auxiliary loss on a node's output: ``weight * fn(output)``, or with
    ``expr`` ``weight * fn(expr)``, a tensor expression over nodes
    (``fn`` defaults to ``mean_square`` on the output, ``mean`` on an expression)."""

    fn: AddLossFn | None = None
    weight: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    expr: StrictStr | None = None

    @property
    def reduction(self) -> AddLossFn:
        """``fn`` or its default."""
        return self.fn or ("mean" if self.expr is not None else "mean_square")


class AdaptSpec(_Strict):
    """How a preprocessing layer is adapted (``layer.adapt``) on the training split
    before fitting: ``{data: input_name, batch_size: 256, steps: 10}``.

    Attributes:
        data: The model input whose training array it adapts on; default: the
            tensor that reaches the node (the sub-graph in front of it run on
            the training inputs).
        batch_size: Samples per batch fed to ``adapt`` (default: all at once).
        steps: Batches ``adapt`` reads (default: all of them).
    """

    data: Name | None = None
    batch_size: Annotated[StrictInt, Field(gt=0)] | None = None
    steps: Annotated[StrictInt, Field(gt=0)] | None = None


#: Pydantic's name for the mapping form of ``adapt:`` in an error's location (not a key).
ADAPT_MAPPING = "adapt-mapping"
#: ``adapt: true`` or ``adapt: {...}``: a mapping is checked as one (its errors at its keys).
AdaptField = Annotated[
    Annotated[StrictBool, Tag("bool")] | Annotated[AdaptSpec, Tag(ADAPT_MAPPING)],
    Discriminator(lambda v: ADAPT_MAPPING if isinstance(v, dict | AdaptSpec) else "bool"),
]


class LayerNode(BaseModel):
    """A node of the layer graph: a layer (``type``), a ``keras.ops`` call (``op``),
    a tensor expression (``expr``), a block instance (``block``), or another
    node's layer or instance again (``share``). Keys other than the ones below
    are the layer's or the op's arguments, or the block's params.

    Attributes:
        name: Unique node name; also the Keras layer's name.
        type: Layer class: a ``keras.layers`` name, a shipped or a registered one.
        op: A ``keras.ops`` function called on the node's inputs.
        expr: A tensor expression over other nodes: ``z_mean + exp(0.5 * z_log_var) * eps``.
        block: A block (``blocks:``) this node instantiates.
        inputs: What the node is called on; omitted means the previous node.
        share: Reuse the layer (or block instance) of an earlier node (weight sharing).
        add_loss: Auxiliary loss on the node's output.
        adapt: Adapt the (preprocessing) layer on the training split before fitting.
        repeat: Copies chained one after the other (unrolled before validation).
    """

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    name: Name
    type: StrictStr | None = None
    op: StrictStr | None = None
    expr: StrictStr | None = None
    block: Name | None = None
    inputs: InputsField | None = None
    share: Name | None = None
    add_loss: AddLossSpec | None = None
    adapt: AdaptField | None = None
    repeat: StrictInt | StrictStr | None = None

    @property
    def args(self) -> dict[str, Any]:
        """The layer's constructor arguments (an op's arguments, a block's params)."""
        return dict(self.model_extra or {})


#: A block param's value: what a var can be.
ParamValue = StrictBool | StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)] | StrictStr


class BlockInput(_Strict):
    """A block's input: a name, with the shape and dtype it takes when built alone."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    name: Name
    shape: list[Annotated[int, Field(gt=0)] | None] | None = None
    dtype: StrictStr | None = None


OutputsField = Ref | Annotated[list[Ref], Field(min_length=1)] | dict[Name, Ref]


class BlockSpec(_Strict):
    """A reusable sub-graph (``blocks: {NAME: ...}``): each instance is a nested
    functional Keras model with its own weights.

    Attributes:
        params: Names usable as ``${name}`` in the block, with their defaults;
            an instance sets them like arguments.
        inputs: The block's inputs: names, or ``{name, shape, dtype}``.
        layers: Its nodes (checked per instance, params substituted).
        outputs: Its outputs, like a model's.
    """

    params: dict[Name, ParamValue] = {}
    # checked per instance (a shape may be a ${...} of the params): see `Body`
    inputs: Annotated[list[Name | dict[StrictStr, Any]], Field(min_length=1)]
    layers: Annotated[list[dict[StrictStr, Any]], Field(min_length=1)]
    outputs: OutputsField


class Body(_Strict):
    """A block instance's body, params substituted and repeats unrolled."""

    # built on first use: most specs have no blocks, and validation's start-up counts
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    inputs: list[BlockInput]
    layers: Annotated[list[LayerNode], Field(min_length=1)]
    outputs: OutputsField

    _document: Document | None = PrivateAttr(default=None)

    @property
    def output_refs(self) -> dict[str, str]:
        """``{output name: node reference}``, in order."""
        return refs_of(self.outputs)


def refs_of(outputs: Any) -> dict[str, str]:
    """``{output name: node reference}`` of an ``outputs:`` value, in order."""
    if isinstance(outputs, str):
        return {outputs: outputs}
    if isinstance(outputs, list):
        return {ref: ref for ref in outputs}
    return dict(outputs)


Optimizer = StrictStr | dict[StrictStr, Any]


#: A loss or metric: a name, or ``{type: ClassName, **args}`` (checked by the
#: compile stage against the class's signature).
Configured = StrictStr | dict[StrictStr, Any]


class CompileSpec(_Strict):
    """What ``model.compile`` receives: names are Keras's or registered ones, or
    ``{type: Name, **args}``. ``loss`` is one loss, a list per output, or a mapping
    ``{output: loss}`` (a mapping with a ``type:`` key is one configured loss); an
    output left out or given ``null`` has no loss."""

    optimizer: Optimizer = "adam"
    loss: StrictStr | list[Configured | None] | dict[StrictStr, Any] | None = None
    loss_weights: list[float] | dict[StrictStr, float] | None = None
    metrics: list[Configured] | dict[StrictStr, list[Configured]] | None = None


DataSource = Literal["sklearn", "keras", "npz", "csv", "images", "function"]
#: Datasets shipped with scikit-learn (offline) and the ones Keras downloads.
SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes", "linnerud")
KERAS_DATASETS = (
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "imdb",
    "reuters",
    "boston_housing",
    "california_housing",
)
#: Array transforms ``train.data.transform`` can apply, each ``{op: argument}``.
TRANSFORMS = ("reshape", "divide_by", "standardize", "one_hot", "cast", "pad_sequences")
Fraction = Annotated[float, Field(ge=0, lt=1)]


class SplitSpec(_Strict):
    """Held-out fractions, drawn with a fixed seed (before any shuffling for training)."""

    validation: Fraction = 0.1
    test: Fraction = 0.2
    seed: Seed = 0


class DataSpec(_Strict):
    """Where training data comes from and how it maps onto the model.

    Attributes:
        source: ``sklearn`` | ``keras`` | ``npz`` | ``csv`` | ``images`` | ``function``.
        name: Dataset name (sklearn, keras), or a registered data function.
        path: File or directory (npz, csv, images), relative to the spec file.
        inputs: ``{model input: array key / column(s)}``; default: the only input <- ``x``.
        targets: ``{model output: array key / column(s)}``; default: the only output <- ``y``.
        args: Extra keyword arguments for the loader (``load_data``, the image
            loader, the data function).
        transform: ``{input or output name: [{op: argument}, ...]}``, applied in order.
        preprocess: Where the inputs' transforms run: ``model`` (default: as
            preprocessing layers in front of the graph, so the trained, saved and
            exported model takes raw inputs; ``pad_sequences`` and the outputs'
            transforms stay in the data pipeline) or ``data`` (on the arrays
            only; the model takes transformed inputs).
        split: Validation and test fractions and their seed.
    """

    source: DataSource
    name: StrictStr | None = None
    path: StrictStr | None = None
    inputs: dict[StrictStr, StrictStr | list[StrictStr]] | None = None
    targets: dict[StrictStr, StrictStr | list[StrictStr]] | None = None
    args: dict[StrictStr, Any] = {}
    transform: dict[StrictStr, list[dict[StrictStr, Any]]] = {}
    preprocess: Literal["model", "data"] = "model"
    split: SplitSpec = SplitSpec()


class CallbackSpec(BaseModel):
    """A Keras callback by name: ``{type: early_stopping, patience: 3}``."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    type: StrictStr

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainableSpec(_Strict):
    """Which layers train: ``{freeze: [backbone], unfreeze: ["backbone/top*"],
    keep_frozen: [BatchNormalization]}``.

    Attributes:
        freeze: Globs over node names (``node/layer-glob`` inside a block
            instance or a nested model, at any depth) whose layers stop training.
        unfreeze: Globs, applied after ``freeze``, whose layers train again.
        keep_frozen: Layer class names kept frozen wherever they are, applied last
            (a frozen ``BatchNormalization`` runs in inference mode).
    """

    freeze: list[StrictStr] = []
    unfreeze: list[StrictStr] = []
    keep_frozen: list[StrictStr] = []


class StageSpec(_Strict):
    """One phase of ``train.stages``: its epochs, optimizer and trainable layers.

    Attributes:
        name: Shown in the log and the summary (default ``stage_<n>``, from 1).
        epochs: Epochs this stage trains.
        optimizer: The stage's optimizer (default ``compile.optimizer``); its
            state starts fresh at the stage's start.
        learning_rate: Overrides the optimizer's learning rate.
        trainable: Patterns applied after ``train.trainable``, to the model as built.
    """

    name: Name | None = None
    epochs: Annotated[StrictInt, Field(gt=0)]
    optimizer: Optimizer | None = None
    learning_rate: Annotated[StrictFloat | StrictInt, Field(gt=0)] | None = None
    trainable: TrainableSpec | None = None


#: What ``train.distribute`` can ask for: one process as today, or data parallelism.
DistributeType = Literal["none", "data_parallel"]


class MeshSpec(_Strict):
    """The device mesh of ``model_parallel``: ``keras.distribution.DeviceMesh``.

    Attributes:
        shape: Devices along each axis; their product is the device count.
        axes: A name per axis; the first splits the batch.
    """

    shape: Annotated[list[Annotated[StrictInt, Field(gt=0)]], Field(min_length=1)]
    axes: Annotated[list[Name], Field(min_length=1)]


class DistributeSpec(_Strict):
    """``train.distribute`` as a mapping (``{type: data_parallel}``).

    Attributes:
        type: ``data_parallel``: every local device (JAX's ``DataParallel``,
            TensorFlow's ``MirroredStrategy``), and on JAX every process of a
            ``--workers``/``--coordinator`` run; ``model_parallel``: variables
            split over a device ``mesh`` by ``layout`` (JAX's ``ModelParallel``,
            one process); ``none``: one device, one process.
        mesh: ``model_parallel``'s device mesh.
        layout: ``model_parallel``'s ``keras.distribution.LayoutMap``: a regex
            matched against variable paths (``dense_1/kernel``) → one mesh axis
            name (or null: not split) per dimension of the variable.
    """

    type: Literal["none", "data_parallel", "model_parallel"]
    mesh: MeshSpec | None = None
    layout: dict[StrictStr, list[StrictStr | None]] | None = None


#: Pydantic's name for the mapping form of ``train.distribute`` in an error's location.
DISTRIBUTE_MAPPING = "distribute-mapping"
#: ``distribute: data_parallel`` or ``distribute: {type: ...}``: a mapping is checked as one.
DistributeField = Annotated[
    Annotated[DistributeType, Tag("name")] | Annotated[DistributeSpec, Tag(DISTRIBUTE_MAPPING)],
    Discriminator(lambda v: DISTRIBUTE_MAPPING if isinstance(v, dict | DistributeSpec) else "name"),
]


class TrainSpec(_Strict):
    """How ``modelspec train`` fits the model (``model.fit`` and ``compile`` knobs).

    Attributes:
        data: The data source.
        batch_size: Samples per step.
        epochs: Passes over the training split.
        shuffle: Reshuffle the training split each epoch.
        seed: Seeds Python, NumPy and the backend (``keras.utils.set_random_seed``).
        callbacks: Keras callbacks by name.
        steps_per_execution: Steps run per compiled call (``model.compile``).
        jit_compile: XLA compilation (``model.compile``): true, false or ``auto``.
        monitor: Quantity the best checkpoint is chosen by (default ``val_loss``).
        verbose: Keras's progress output: 0 silent, 1 progress bar, 2 a line per epoch.
            Default: a progress bar on a terminal, a line per epoch otherwise (a log
            file or CI output gets no ``\r`` and ``\b`` sequences).
        trainable: Which layers train, for the whole run (each stage's apply after).
        stages: Phases trained one after the other (fine-tuning); the run's epochs
            are their sum unless ``epochs`` is given (then the last stage is
            lengthened, or the run stops after ``epochs``).
        distribute: ``data_parallel`` (or ``{type: data_parallel}``) trains on
            every local device, and on JAX over the processes of a ``--workers``
            or ``--coordinator`` run; ``none`` (the default): one device.
    """

    data: DataSpec
    batch_size: Annotated[StrictInt, Field(gt=0)] = 32
    epochs: Annotated[StrictInt, Field(gt=0)] = 10
    shuffle: bool = True
    seed: Seed = 0
    callbacks: list[CallbackSpec] = []
    steps_per_execution: Annotated[StrictInt, Field(gt=0)] = 1
    jit_compile: bool | Literal["auto"] = "auto"
    monitor: StrictStr | None = None
    verbose: Literal[0, 1, 2] | None = None
    trainable: TrainableSpec | None = None
    stages: Annotated[list[StageSpec], Field(min_length=1)] | None = None
    distribute: DistributeField | None = None

    @property
    def distribute_type(self) -> str:
        """``data_parallel`` or ``none``, whichever form ``distribute`` was given in."""
        value = self.distribute
        if isinstance(value, DistributeSpec):
            return value.type
        return value or "none"

    @property
    def total_epochs(self) -> int:
        """The run's epochs: ``epochs`` when given, else the stages' sum (else 10)."""
        if self.stages and "epochs" not in self.model_fields_set:
            return sum(s.epochs for s in self.stages)
        return self.epochs


#: The Keras backends (:data:`modelspec.backend.BACKENDS`).
Backend = Literal["tensorflow", "jax", "torch"]
ExportFormat = Literal["keras", "saved_model", "litert", "onnx", "openvino"]
#: Formats ``modelspec export`` writes, in the order ``all`` exports them.
EXPORT_FORMATS: tuple[str, ...] = ExportFormat.__args__  # type: ignore[attr-defined]
Tolerance = Annotated[StrictFloat | StrictInt, Field(ge=0)]


class ExportSpec(_Strict):
    """What ``modelspec train`` exports at the end of a run; defaults for ``modelspec export``.

    Attributes:
        formats: Formats to write (keras, saved_model, litert, onnx, openvino).
        tolerance: Largest max-abs difference from the Keras model accepted when
            checking an artifact: one number, or one per format. Defaults: 1e-5
            for keras and saved_model, 1e-4 for the others.
        samples: Sample inputs the check runs (from the spec's data, else random).
        check: Reload every artifact in its own runtime and compare its outputs.
    """

    formats: Annotated[list[ExportFormat], Field(min_length=1)]
    tolerance: Tolerance | dict[ExportFormat, Tolerance] | None = None
    samples: Annotated[StrictInt, Field(gt=0)] = 8
    check: bool = True


class TuneSpec(_Strict):
    """The study ``modelspec tune`` runs over the spec's search spaces (``{tune: ...}`` values).

    Attributes:
        objective: What a trial is judged by: a loss or metric training logs
            (default ``val_loss``); its best epoch is the trial's value.
        direction: ``minimize`` or ``maximize``; by default the objective's own
            (losses go down, accuracy up).
        trials: Trials the study runs in all (default 20; a grid's size with ``grid``).
        timeout: Seconds after which ``modelspec tune`` starts no new trial.
        sampler: ``tpe`` (Optuna's default), ``random`` or ``grid`` (every combination).
        pruner: Stops a trial whose objective falls behind: ``median``, ``hyperband``, ``none``.
        seed: Seeds the sampler (default: ``train.seed``).
    """

    objective: StrictStr = "val_loss"
    direction: Literal["minimize", "maximize"] | None = None
    trials: Annotated[StrictInt, Field(gt=0)] | None = None
    timeout: Annotated[StrictFloat | StrictInt, Field(gt=0, allow_inf_nan=False)] | None = None
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: Seed | None = None


class ModelSpec(_Strict):
    """A whole spec. Build one with :func:`modelspec.load_spec`, which also checks the graph.

    Attributes:
        modelspec: Spec format version; ``1``.
        name: Model name.
        description: Free text.
        vars: Named values that ``${...}`` expressions use (:mod:`modelspec.spec.expand`).
        imports: Python modules to import before building (refused unless allowed).
        inputs: Model inputs.
        blocks: Reusable sub-graphs, instantiated by ``{block: NAME}`` nodes.
        layers: The layer graph, in order.
        outputs: Node references: a list, or a mapping ``{output_name: ref}``.
        compile: Optimizer, losses and metrics.
        train: Data and fit settings for ``modelspec train``.
        export: Formats ``modelspec train`` exports at the end of a run.
        backend: The Keras backend to build and train on (``tensorflow``, ``jax``,
            ``torch``); ``--backend`` overrides it, ``KERAS_BACKEND`` applies without it.
        tune: The hyperparameter study of ``modelspec tune``.
    """

    modelspec: Literal[1]
    name: Name
    description: StrictStr | None = None
    backend: Backend | None = None
    vars: dict[
        Name,
        StrictBool | StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)] | StrictStr,
    ] = {}
    imports: list[StrictStr] = []
    inputs: Annotated[list[InputSpec], Field(min_length=1)]
    blocks: dict[Name, BlockSpec] = {}
    layers: Annotated[list[LayerNode], Field(min_length=1)]
    outputs: OutputsField
    compile: CompileSpec | None = None
    train: TrainSpec | None = None
    export: ExportSpec | None = None
    tune: TuneSpec | None = None

    _document: Document | None = PrivateAttr(default=None)

    @field_validator("outputs")
    @classmethod
    def _non_empty(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value:
            raise ValueError("expected at least one output")
        return value

    @property
    def document(self) -> Document:
        """The source document (positions for error messages).

        A spec made in Python rather than loaded has no positions; its
        document is its own data.
        """
        if self._document is None:
            return Document(data=self.model_dump(exclude_unset=True), file="<spec>")
        return self._document

    @property
    def output_refs(self) -> dict[str, str]:
        """``{output name: node reference}``, in order."""
        return refs_of(self.outputs)
