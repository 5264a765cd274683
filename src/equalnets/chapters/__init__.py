"""One module per chapter notebook, named by the notebook's stem: its parameters, runs, analysis and claims."""
