"""``cvcourse.train``: the one training loop every chapter uses, in small modules.

- :mod:`~cvcourse.train.loop`: ``fit`` (train) and ``evaluate`` (measure);
- :mod:`~cvcourse.train.history`: ``History``, every number of a run, and its picture;
- :mod:`~cvcourse.train.batches`: ``to_device``, ``accuracy``;
- :mod:`~cvcourse.train.live`: the live loss plot in a notebook;
- :mod:`~cvcourse.train.checkpoint`: atomic checkpoints and ``load_checkpoint``;
- :mod:`~cvcourse.train.distributed`: data-parallel training under ``torchrun``.
"""

from .batches import accuracy, to_device
from .checkpoint import load_checkpoint
from .history import History
from .loop import evaluate, fit

__all__ = ["History", "accuracy", "evaluate", "fit", "load_checkpoint", "to_device"]
