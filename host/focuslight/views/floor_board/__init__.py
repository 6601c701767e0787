"""The floor board: every agent's light, live on a web page."""
