"""DAVS (Zhou et al. 2019): disentangled audio-visual talking-face generation.

``config`` (DavsTrainConfig), ``view`` (torch-free data views), ``networks``, ``losses``,
``trainer`` (one MethodTrainer per stage: ``joint``, ``word``, ``identity``), ``inference``
(the official test procedure), ``checkpoint`` (the official released checkpoint layout),
``build_check`` (what a build must hold). This package imports no torch so the views load in
torch-free processes.
"""
