"""Training: what a run is (:mod:`.runs`: identity, folder, lock) and the staged trainer that computes
it (:mod:`.loop` with :mod:`.schedule`, :mod:`.stream`, :mod:`.checkpoint`, :mod:`.records`,
:mod:`.distributed`), one run or several side by side (:mod:`.jobs`)."""
from .loop import Trainer, frozen_batchnorm_statistics
from .records import HISTORY_COLUMNS, TrainResult
from .runs import RunSpec
from .schedule import Schedule
from .stream import BatchStream

__all__ = ["BatchStream", "HISTORY_COLUMNS", "RunSpec", "Schedule", "TrainResult", "Trainer",
           "frozen_batchnorm_statistics"]
