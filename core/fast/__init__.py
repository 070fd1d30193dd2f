"""Fast paths, each beside the readable twin it is tested against: the numpy one-token decoder
and the measured choice of precision."""
