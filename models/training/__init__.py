"""The shared training core: loop, devices and precision, DDP, checkpoints, logs."""

from models.training.method import MethodTrainer, SampleOutput, TrainContext

__all__ = ["MethodTrainer", "SampleOutput", "TrainContext"]
