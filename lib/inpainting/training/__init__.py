"""Training: what a run is (:mod:`.runs`: identity, folder, lock), the method's training step
(:mod:`.module`: G, D, the perceptual network and their losses) and the run that drives it
(:mod:`.loop` with :mod:`.schedule`, :mod:`.stream`, :mod:`.checkpoint`, :mod:`.records`,
:mod:`.distributed`), one run or several side by side (:mod:`.jobs`)."""
from .loop import Trainer
from .module import InpaintingModule
from .module_base import frozen_batchnorm_statistics
from .records import HISTORY_COLUMNS, RunFacts, TrainResult
from .runs import RunSpec
from .schedule import Schedule
from .stream import BatchStream

__all__ = ["BatchStream", "HISTORY_COLUMNS", "InpaintingModule", "RunFacts", "RunSpec", "Schedule",
           "TrainResult", "Trainer", "frozen_batchnorm_statistics"]
