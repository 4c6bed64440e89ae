"""Chapter 1, Optimizers: exact from-scratch optimizers, loss surfaces, trajectories, the explorer.

``SGD``, ``Adagrad``, ``RMSprop``, ``Adam`` and ``AdamW`` subclass ``torch.optim.Optimizer``
and give the same numbers as their ``torch.optim`` namesakes (``foreach=False``); their state
dicts load into torch's and back. Importing this package imports no widget code and has no side
effects.
"""

from .adagrad import Adagrad
from .adam import Adam, adam_moments
from .adamw import AdamW, l2_vs_decay
from .newton import hessian_cost, newton_method, newton_step, newton_step_1d
from .rmsprop import RMSprop
from .sgd import SGD, minibatch_sgd, minibatches, nesterov_lookahead
from .surfaces import SURFACES, get_surface
from .trajectories import Trajectories, trajectories, trajectories_loop

__all__ = [
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "adam_moments",
    "l2_vs_decay",
    "minibatches",
    "minibatch_sgd",
    "nesterov_lookahead",
    "newton_step",
    "newton_step_1d",
    "newton_method",
    "hessian_cost",
    "SURFACES",
    "get_surface",
    "Trajectories",
    "trajectories",
    "trajectories_loop",
]
