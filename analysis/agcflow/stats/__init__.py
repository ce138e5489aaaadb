"""Statistics with cabinetry and pyhf: the workspace, fits, rankings, their plots, and the backend choice (one place)."""
