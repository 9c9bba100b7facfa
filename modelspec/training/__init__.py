"""Training: fit a spec's model on its data into a run directory; evaluate and predict.

Read in order: :mod:`~modelspec.training.history` (``history.csv`` and
``curves.png``) and :mod:`~modelspec.training.callbacks` (Keras callbacks with
atomic files) → :mod:`~modelspec.training.inference` (evaluate and predict) →
:mod:`~modelspec.training.fit` (``train``, resume, the ``export:`` section at
the end of a run).
"""

from .fit import TrainResult, train
from .history import plot_history, read_history
from .inference import evaluate, predict

__all__ = ["TrainResult", "evaluate", "plot_history", "predict", "read_history", "train"]
