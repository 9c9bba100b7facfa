"""Training data for a spec: ``train.data`` → NumPy arrays → ``tf.data``.

:func:`load_data` reads the source a spec's ``train.data`` names (a
scikit-learn or Keras dataset, an ``.npz`` or ``.csv`` file, a folder of
images, a registered data function), maps its arrays onto the model's inputs
and outputs, splits them with a fixed seed and applies the ``transform``
steps (statistics such as ``standardize``'s mean come from the training split
only); with ``preprocess: model`` (the default) the inputs' steps are left
to the layers :func:`build_with_transforms` puts in front of the model, and
the inputs stay raw. :func:`check_against_model` compares the arrays with the built model
and its losses before any training starts, and :func:`to_dataset` feeds a
split to ``model.fit``. :func:`read_arrays` and :func:`write_arrays` are the
``.npz``/``.csv`` files of ``modelspec predict``.

Every problem with the data is a :class:`~modelspec.errors.DataError` whose
diagnostics point at the ``train.data`` entry concerned. TensorFlow, Keras and
scikit-learn are imported only when a function needs them.

Read in order: :mod:`~modelspec.data.common` (the splits, names and message
helpers) → :mod:`~modelspec.data.readers` (``.npz`` and ``.csv`` files) →
:mod:`~modelspec.data.sources` (what ``train.data`` names) →
:mod:`~modelspec.data.mapping` (arrays onto the model's inputs and outputs) →
:mod:`~modelspec.data.transforms` (``transform:`` steps) →
:mod:`~modelspec.data.load` (``load_data``: map, split, transform) →
:mod:`~modelspec.data.checks` (``check_against_model``) →
:mod:`~modelspec.data.preprocess` (the inputs' transforms as layers of the model) →
:mod:`~modelspec.data.pipeline` (``to_dataset``) → :mod:`~modelspec.data.files`
(``read_arrays`` and ``write_arrays``, for ``predict``).

Example:
    >>> from modelspec import load_spec
    >>> data = load_data(load_spec("specs/antirectifier_digits.yaml"))
    >>> data.description
    'sklearn digits: 1,257 train / 180 validation / 360 test'
    >>> data.train.x["pixels"].shape, data.train.y[0].shape
    ((1257, 64), (1257,))
"""

from .checks import check_against_model, input_problem
from .common import Data, Split, output_names, trained_outputs
from .files import read_arrays, write_arrays
from .load import load_data
from .pipeline import to_dataset
from .preprocess import build_with_transforms, transforms_in
from .sources import keras_dataset_cached

__all__ = [
    "Data",
    "Split",
    "build_with_transforms",
    "check_against_model",
    "input_problem",
    "keras_dataset_cached",
    "load_data",
    "output_names",
    "read_arrays",
    "to_dataset",
    "trained_outputs",
    "transforms_in",
    "write_arrays",
]
