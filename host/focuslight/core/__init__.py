"""The core: per-agent merge policy and the hub that applies it. Imports no I/O."""
