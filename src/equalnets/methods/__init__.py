"""The papers' methods beside the ensembles: bias attribution, Jumpout's measurements, classical learners."""
