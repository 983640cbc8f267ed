"""Lightning: `Trainer(callbacks=[AdvisorCallback()])` predicts the whole fit from its first minute.

Lightning steps torch.optim optimizers, so the steps are seen by the hooks; the callback gives
the run's length (`max_epochs`, or `max_steps`), the training batches per epoch as Lightning
counts them (`limit_train_batches` included), and stops the fit cleanly when only the
prediction was asked for.
"""

from __future__ import annotations

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    from pytorch_lightning.callbacks import Callback

from advisor.app.tracking import DEFAULT_BUDGET_S, TrackSession
from advisor.integrations.announce import Announcer


class AdvisorCallback(Announcer, Callback):
    def __init__(self, budget_s: float = DEFAULT_BUDGET_S, calibrate_only: bool = False, cloud: bool = True,
                 providers=(), quiet: bool = False):
        super().__init__()
        self._options(budget_s, calibrate_only, cloud, providers, quiet)

    def on_fit_start(self, trainer, pl_module):
        max_steps = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self.session = TrackSession(epochs=None if max_steps else trainer.max_epochs, total_steps=max_steps,
                                    budget_s=self.budget_s, cloud=self.cloud, providers=self.providers,
                                    on_prediction=self._predicted).start()

    def on_train_epoch_start(self, trainer, pl_module):
        batches = trainer.num_training_batches
        if self.session is not None and isinstance(batches, int) and batches > 0:
            self.session.tracker.train_batches_per_epoch = batches
            val = trainer.num_val_batches
            if val and self.session.tracker is not None and not getattr(self, "_val_added", False):
                self.session.tracker.add_loader_length(int(sum(val)))
                self._val_added = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.calibrate_only and self.prediction is not None:
            trainer.should_stop = True

    def on_fit_end(self, trainer, pl_module):
        self._finish()

    def on_exception(self, trainer, pl_module, exception):
        self._finish(quiet=True)

    def _finish(self, quiet: bool = False):
        if self.session is None or self.session.tracker is None:
            return
        self.session.stop()
        self._finished(None if self.calibrate_only else self.session.result, quiet)
