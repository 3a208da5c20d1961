"""CRAN (Song et al. 2019): conditional recurrent adversarial network for talking faces.

``config`` (CranTrainConfig), ``view`` (torch-free items), ``networks`` (Tables 5-8),
``losses`` (Eqs. 1-4), ``perceptual`` (VGG-Face), ``trainer`` (stages cae, cae_gan, rae),
``build`` (what a build must hold). This file imports no torch, so the view loads without it.
"""
