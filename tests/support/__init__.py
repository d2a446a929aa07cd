"""Helpers of the test suite that are not tests: servers, a TCP proxy, races, paths."""
