"""Notebook helpers: the logic behind notebooks/*.ipynb, kept here so the notebooks stay thin and tested."""
