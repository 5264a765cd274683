"""Figures and JupyterLab widgets: each takes data, labels it with N and units, and returns the figure."""
