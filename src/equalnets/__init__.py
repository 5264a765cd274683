"""equalnets: the helper package of the executable book on *All Neural Networks are Created Equal*.

Six sub-packages; dependencies point one way, ``tools → chapters → methods / analysis / figures →
engine``, and nothing in ``engine`` knows a chapter:

* ``engine``: ``checks`` (the one set of parameter checks), ``config`` (RunConfig), ``data``
  (data sets as tensors), ``layers`` (dropout and Jumpout), ``models`` (every network family),
  ``train`` (the one training loop and its sequential / batched strategies), ``ensemble`` (the
  orchestrator that trains what the store lacks), ``distributed`` (its Ray executor), ``store``
  (the run store, and ``Run``);
* ``analysis``: ``scores`` (per-example scores), ``phases`` (the four phases, collapse), ``compare``
  (matching ensembles), ``subsets`` (choosing examples by difficulty), ``trajectories`` (examples
  over training), ``stats`` (correlations and intervals), ``claims`` (the claims table), ``atlas`` (every difficulty
  score of one run side by side);
* ``methods``: the papers' methods: ``attribution`` (bias attribution), ``jumpout`` (Jumpout's
  measurements), ``classic`` (the classical learners of §5), ``depth`` (prediction depth),
  ``alignment`` (random-label alignment), ``sampler`` (replica-exchange HMC);
* ``figures``: ``plots`` (the shared figures) and one module per chapter's own figures
  (``robustness``, ``paradigms``, ``bimodality_breaks``, ``examples``, ``bias_attribution``,
  ``dropout``, ``depth`` (prediction depth), ``random_labels``, ``finite_temperature``, ``atlas``),
  ``widgets`` (JupyterLab views);
* ``chapters``: ``base`` (parameters, header) and one module per notebook, named by its stem;
* ``tools``: ``book`` (executing the notebooks), ``site`` (the Sphinx extension), ``bench``
  (the engine benchmark), ``export`` (the difficulty scores as data), ``stability`` (verdicts at two
  seeds), ``cli`` (``python -m equalnets``).
"""

__version__ = "0.2.0"
