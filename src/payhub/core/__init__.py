"""Money, currencies, ids, clock, errors and configuration: the conventions every module shares."""
