"""CRAN (Song et al. 2019): conditional recurrent adversarial network for talking faces.

``config`` (CranTrainConfig), ``view`` (torch-free items), ``networks`` (Tables 5-8),
``losses`` (Eqs. 1-4), ``trainer`` (stages cae, cae_gan, rae), ``build`` (what a build must
hold). The VGG-Face perceptual loss (Eq. 4) is shared with DVAE:
:mod:`models.training.perceptual`. This file imports no torch, so the view loads without it.

The paper's schedule (Sec. 4.2), on a phoneme-selected build::

    avprep build voxceleb --root R --out B --transcripts T     # crop112, mfcc_cran, good runs
    avprep select-samples voxceleb --build B                    # B/selection.parquet
    avprep train cran --data B --selection B --stage cae --out runs/cran-cae
    avprep train cran --data B --selection B --stage cae_gan --init runs/cran-cae \\
        --out runs/cran-cae_gan [--set perceptual=true --set vgg_face_weights=vgg_face_dag.pth]
    avprep train cran --data B --selection B --stage rae --init runs/cran-cae_gan \\
        --out runs/cran-rae
"""
