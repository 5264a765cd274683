"""The engine: configs, data, networks, training and the run store. Knows no chapter."""
