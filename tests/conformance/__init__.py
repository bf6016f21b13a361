"""Conformance tests: the official Engine.IO v4 and Socket.IO v5 protocol test suites, re-expressed
in Python and run against turbosio and against Node's reference servers side by side."""
