"""``train.stages``: a run's phases, each with its epochs, trainable layers and optimizer.

Epochs are numbered across the stages (history.csv, TensorBoard, checkpoints and
``--resume`` see one run). A run's epochs may differ from the stages' sum (``--epochs
N``, or a finished run trained further): the last stage runs longer, or the run
stops at N epochs, in whichever stage that is.

Example:
    >>> from modelspec import load_spec
    >>> spec = load_spec("specs/antirectifier_digits.yaml")
    >>> plan(spec.train, 3)
    [Stage(index=None, name='', start=0, end=3)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from ..spec.schema import TrainSpec


@dataclass(frozen=True)
class Stage:
    """One phase of a run.

    Attributes:
        index: Its position in ``train.stages`` (``None``: a run without stages).
        name: Its name (``stage_<n>`` when the spec gives none).
        start: Its first epoch (0-based, counted over the run).
        end: The epoch after its last.
    """

    index: int | None
    name: str
    start: int
    end: int


def plan(settings: TrainSpec, epochs: int) -> list[Stage]:
    """The stages of a run of ``epochs`` epochs: the last one is lengthened to reach
    them, or the run is cut at them.

    Example:
        >>> from modelspec.spec.schema import StageSpec
        >>> settings = TrainSpec.model_construct(stages=[StageSpec(epochs=2), StageSpec(epochs=2)])
        >>> [(s.name, s.start, s.end) for s in plan(settings, 5)]
        [('stage_1', 0, 2), ('stage_2', 2, 5)]
        >>> [(s.name, s.start, s.end) for s in plan(settings, 1)]
        [('stage_1', 0, 1)]
    """
    if not settings.stages:
        return [Stage(None, "", 0, epochs)]
    stages: list[Stage] = []
    start = 0
    last = len(settings.stages) - 1
    for i, stage in enumerate(settings.stages):
        if start >= epochs:
            break
        end = epochs if i == last else min(start + stage.epochs, epochs)
        stages.append(Stage(i, stage.name or f"stage_{i + 1}", start, end))
        start = end
    return stages


def stage_at(stages: list[Stage], epoch: int) -> Stage:
    """The stage that trains ``epoch`` (the last one past the end).

    Example:
        >>> stages = [Stage(0, "a", 0, 2), Stage(1, "b", 2, 4)]
        >>> stage_at(stages, 1).name, stage_at(stages, 2).name, stage_at(stages, 9).name
        ('a', 'b', 'b')
    """
    for stage in stages:
        if epoch < stage.end:
            return stage
    return stages[-1]


class StageEnd(keras.callbacks.Callback):
    """Stops ``fit`` after a stage's last epoch, so the progress bar counts the run's
    epochs ("Epoch 3/6") while each stage is its own ``fit`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.end = 0
        self.reached = False

    def on_train_begin(self, logs: Any = None) -> None:
        self.reached = False

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch + 1 >= self.end:
            self.reached = True
            self.model.stop_training = True
