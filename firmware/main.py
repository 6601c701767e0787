# Boots the beacon. Everything lives in the beacon package (compiled to .mpy
# by `focuslight flash`); main.py stays source and is also the beacon's
# bootloader for over-the-air updates (docs/firmware.md, "Updating beacons
# over the network"). It is never updated over the air, only by `flash`, so
# a broken update can never break the code that rolls it back.
#
# beacon.new/ + update.json "pending": a verified download (beacon/update.py)
#   -> swapped in: beacon/ -> beacon.old/ (the rollback copy), beacon.new/ -> beacon/,
#      and if the update changes the config ("config": true) config.json -> config.old,
#      config.new -> config.json, and the same for the CA (ca.pem); state "trial"
# state "trial" at boot: the new firmware started before and never reached the
#   broker (crash, watchdog, power loss) -> rolled back
# trial run: an import or config error, an exception, or no broker within
#   trial_s seconds -> rolled back and reset; reaching the broker -> "done"
#   (beacon/update.py confirms it). A firmware that hangs (blocks the event loop,
#   so the trial_s deadline, an asyncio task, never runs) is caught by the
#   watchdog armed here before the new code is imported: app.main(wdt=...) feeds
#   it from its frame loop, and once it stops the board resets into the
#   "trial at boot" rollback above.
# app.main() returning (anything but a Ctrl-C at the REPL) resets the board:
#   a beacon must never sit in the REPL with its light frozen.
import os

STATE = "update.json"
PKG, NEW, OLD = "beacon", "beacon.new", "beacon.old"
TRIAL_WDT_MS = 8000  # the rp2040's longest watchdog is 8388 ms


# _exists, _rmtree, state() and save() are mirrored in beacon/update.py on purpose:
# this file may not import beacon.* (it must run when an update broke beacon/), and
# beacon/ cannot import main (that runs the boot). `flash` installs only main.py and
# beacon/*.py (host/focuslight/tools/flash/plan.py), so there is no third place both
# could share. Both sides read and write the same update.json: change them together.
def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _rmtree(path):
    if _exists(path):
        for name in os.listdir(path):
            os.remove(path + "/" + name)  # the package is flat
        os.rmdir(path)


def _move(src, dst):
    """Rename, replacing dst (FAT cannot rename onto an existing file)."""
    if _exists(dst):
        os.remove(dst)
    os.rename(src, dst)


def state():
    import json

    try:
        with open(STATE) as f:
            st = json.load(f)
        return st if isinstance(st, dict) else {}
    except (OSError, ValueError):
        return {}


def save(st):
    import json

    with open(STATE + ".tmp", "w") as f:
        json.dump(st, f)
    _move(STATE + ".tmp", STATE)  # never a half-written state file


# the files an update may replace beside the package: (flag in update.json, live, new, old)
_FILES = (("config", "config.json", "config.new", "config.old"),
          ("ca", "ca.pem", "ca.new", "ca.old"))


def _swap(st):
    """Idempotent: a power cut anywhere in here finishes the swap on the next boot."""
    if _exists(NEW):
        if _exists(PKG):
            _rmtree(OLD)
            os.rename(PKG, OLD)
        os.rename(NEW, PKG)
    for flag, live, new, old in _FILES:
        if not st.get(flag):
            if _exists(old):
                os.remove(old)  # an older update's: must not come back on a rollback
        elif _exists(new):
            if _exists(live):
                _move(live, old)
            _move(new, live)


def rollback(st, why):
    """Put the previous firmware (and config, CA) back, record why, and reset."""
    if _exists(OLD):
        _rmtree(PKG)
        os.rename(OLD, PKG)
    for flag, live, _new, old in _FILES:
        if st.get(flag) and _exists(old):
            _move(old, live)
        elif st.get(flag + "_added") and _exists(live):
            os.remove(live)  # the update brought it; there was none before
    st["state"] = "rolled_back"
    st["reason"] = why
    save(st)
    print("beacon: update to %s rolled back: %s" % (st.get("version"), why))
    import machine

    machine.reset()


async def _deadline(seconds):
    import asyncio

    await asyncio.sleep(seconds)
    st = state()
    if st.get("state") == "trial":
        rollback(st, "did not reach the broker within %d s" % seconds)


def _ended(how):
    """app.main() returned: after a Ctrl-C ("stopped") the REPL is wanted (flash,
    mpremote); any other return would leave the light frozen, so reset."""
    if how != "stopped":
        print("beacon: the firmware returned; resetting")
        import machine

        machine.reset()


def main():
    import machine

    st = state()
    if st.get("state") == "trial":
        hung = machine.reset_cause() == machine.WDT_RESET
        rollback(st, "the new firmware hung (watchdog reset) before it reached the broker"
                 if hung else "the new firmware stopped before it reached the broker")
    if st.get("state") == "pending":
        _swap(st)
        st["state"] = "trial"
        save(st)
        print("beacon: trying firmware %s" % st.get("version"))
    if st.get("state") != "trial":
        from beacon import app

        _ended(app.main())
        return
    how = None
    try:
        wdt = machine.WDT(timeout=TRIAL_WDT_MS)  # before any new code runs
        import asyncio

        from beacon import app, config

        config.load()  # a config the new firmware refuses fails the update, not the beacon
        asyncio.create_task(_deadline(st.get("trial_s", 90)))  # noqa: RUF006 (runs in app.main)
        how = app.main(wdt=wdt)
    except Exception as e:  # anything at all during the trial: the old firmware is safer
        st = state()
        if st.get("state") != "trial":
            raise  # confirmed already: an error now is the new firmware's, as on any boot
        rollback(st, "%s: %s" % (type(e).__name__, e))
    _ended(how)


main()
