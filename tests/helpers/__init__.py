"""Test helpers: real peers (brokers, the firmware, sipp, Kamailio, Chromium, ptys)
and payload generators, imported as ``helpers.<name>``."""
