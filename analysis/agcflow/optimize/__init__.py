"""Optimisation: cached passes over the delivered columns, and analysis optimisation."""
