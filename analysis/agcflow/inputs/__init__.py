"""Input files: the fileset of each sample and the synthetic generation of the embedded default."""
