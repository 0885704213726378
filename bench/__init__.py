"""`make bench`: the service's paths measured against the floor that each one cannot go below.

Every item is a ratio of two medians taken in the same run, with the measured runs and the
baseline runs interleaved, so that load from other processes on the machine hits both alike.
"""
