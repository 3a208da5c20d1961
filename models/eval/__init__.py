"""The papers' evaluation measures, one module per family, shared by ``avprep eval`` and the
trainers' validation (numpy/torch arrays in, floats/dicts out).

- :mod:`models.eval.image_quality`: PSNR, SSIM (Wang et al. 2004) per frame on uint8 crops.
- :mod:`models.eval.landmark_distance`: LMD over mouth landmarks 48-67 (DVAE Sec. 4.3).
- :mod:`models.eval.recognition`: lip-reading top-1 accuracy (DAVS Table 3).
- :mod:`models.eval.retrieval`: audio<->video R@1, R@10, median rank (DAVS Table 3).
- :mod:`models.eval.word_information`: word information left in identity features (DAVS Sec. 4.2).
- :mod:`models.eval.syncnet`: LSE-C / LSE-D with SyncNet, as Wav2Lip's evaluation computes them.
- :mod:`models.eval.fid`: Frechet Inception Distance (torchmetrics + torch-fidelity's Inception).
- :mod:`models.eval.motion`: movement intensity (CRAN Fig. 5).

Nothing here imports torch, dlib or Beam at package import time.
"""
