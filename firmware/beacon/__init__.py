# focuslight beacon firmware: see docs/firmware.md. main.py calls beacon.app.main().
