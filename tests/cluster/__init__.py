"""Cluster factory tests: batch kinds (dask-jobqueue) and a real one-node SLURM."""
