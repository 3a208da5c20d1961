"""The shared training core: loop, devices and precision, DDP, checkpoints, logs.

- :mod:`models.training.method`: the contract (MethodTrainer, TrainContext, SampleOutput);
- :mod:`models.training.config`: TrainConfig, config files and ``--set`` parsing;
- :mod:`models.training.loop`: :func:`train` (the loop, DDP, AMP, validation);
- :mod:`models.training.checkpoint`: atomic checkpoints, keep-last-k, RNG states;
- :mod:`models.training.logs`: TensorBoard + JSONL scalars, progress bar, sample PNG/MP4;
- :mod:`models.training.builds`: the "does this build serve this method" check.
"""

from models.training.method import MethodTrainer, SampleOutput, TrainContext

__all__ = ["MethodTrainer", "SampleOutput", "TrainContext"]
