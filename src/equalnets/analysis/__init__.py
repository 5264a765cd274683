"""Analysis of trained ensembles: pure functions over the run store's arrays, and the claims table."""
