"""Analysis optimisation: the cuts that minimise the expected POI uncertainty, by a grid of hard-cut fits or by gradient descent through the relaxed analysis."""
