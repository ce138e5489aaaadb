"""Compute resources: the Dask cluster factory (local, address, jobqueue, gateway); knows no stage."""
