"""equalnets: the helper package of the executable book on *All Neural Networks are Created Equal*.

One module per concept: ``data`` (data sets as tensors), ``models`` (architectures from a spec),
``train`` (training and recording), ``config`` (RunConfig), ``store`` (the run store),
``scores`` (per-example scores), ``phases`` (the four phases), ``compare`` (matching runs),
``plots`` / ``widgets`` (figures), ``report`` (chapter header and claims tables),
``book`` (executing notebooks and building the site).
"""

__version__ = "0.1.0"
