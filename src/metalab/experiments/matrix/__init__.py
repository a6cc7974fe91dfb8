"""``metalab run matrix``: every supported (learner, estimator) pair on the same problems."""
