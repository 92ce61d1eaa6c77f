"""Training: the staged trainer (:mod:`.loop`), its schedule (:mod:`.schedule`), the batch stream
(:mod:`.stream`) and the records a run leaves (:mod:`.records`). Loading a trained generator lives
with the models (:func:`inpainting.models.load_inpainter`); what a run *is*, in
:mod:`inpainting.training.runs`."""
from .loop import Trainer, frozen_batchnorm_statistics
from .records import HISTORY_COLUMNS, TrainResult
from .schedule import Schedule
from .stream import BatchStream

__all__ = ["BatchStream", "HISTORY_COLUMNS", "Schedule", "TrainResult", "Trainer",
           "frozen_batchnorm_statistics"]
