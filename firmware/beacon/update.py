# Over-the-air update, the beacon's side (docs/firmware.md, "Updating beacons
# over the network"; topics in docs/protocol.md). `focuslight update` offers a
# firmware on <prefix>/beacons/<beacon>/update (retained):
#   {"v":1,"id":"k3j2","version":"0.2.1","manifest":{"size":812,"sha256":"<hex>"}}
# The beacon pulls one chunk at a time: it asks on .../update/get
#   {"v":1,"id":"k3j2","file":0,"offset":0}     (file 0 is the manifest)
# and gets on .../update/data "<id> <file> <offset>\n" + up to 384 bytes. The
# manifest has one line per file, "<path> <size> <sha256>", path beacon/<module>,
# config.json (keys to change in the beacon's config.json) or ca.pem (the site CA
# for MQTT over TLS). Every file goes
# to beacon.new/ and is hashed as it arrives, so memory stays one chunk; any
# mismatch refuses the whole update and the running firmware never notices.
# A verified download is handed to main.py (update.json "pending") and the
# board resets; main.py swaps it in and rolls it back if it does not come up.
# Progress and results go to .../update/status (retained).
import asyncio
import json
import os
from binascii import hexlify
from hashlib import sha256

from micropython import const

from beacon import protocol
from beacon.log import log
from beacon.version import VERSION

STATE = "update.json"
NEW = "beacon.new"
_CHUNK_WAIT_MS = const(5000)
_TRIES = const(4)
_MAX_FILE = const(200000)
_MAX_MANIFEST = const(4096)


class UpdateError(Exception):
    pass


# _exists, _rmtree, state() and save() mirror main.py's on purpose: main.py, the
# bootloader, must not import beacon.* (it has to run when an update broke beacon/),
# and importing main from here would run the boot. Both read and write the same
# update.json (written via a .tmp and a rename): change them together.
def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _rmtree(path):
    if _exists(path):
        for name in os.listdir(path):
            os.remove(path + "/" + name)
        os.rmdir(path)


def _is_word(value, extra=""):
    return (isinstance(value, str) and 0 < len(value) <= 32
            and all("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in extra
                    for c in value))


def _is_sha(value):
    return (isinstance(value, str) and len(value) == 64
            and all("0" <= c <= "9" or "a" <= c <= "f" for c in value))


def state():
    try:
        with open(STATE) as f:
            st = json.load(f)
        return st if isinstance(st, dict) else {}
    except (OSError, ValueError):
        return {}


def save(st):
    with open(STATE + ".tmp", "w") as f:
        json.dump(st, f)
    if _exists(STATE):
        os.remove(STATE)
    os.rename(STATE + ".tmp", STATE)


def offer_of(payload):
    """Validate an offer; return (id, version, manifest size, manifest sha256, trial_s)."""
    body = protocol.load(payload)
    protocol.check_version(body)
    ident, version, m = body.get("id"), body.get("version"), body.get("manifest")
    if not _is_word(ident):
        raise ValueError("update id must be 1-32 letters or digits, got %r" % (ident,))
    if not _is_word(version, ".+_-"):
        raise ValueError("update version must look like 0.2.1, got %r" % (version,))
    if not isinstance(m, dict):
        raise ValueError("update manifest must be an object")
    size, sha, trial = m.get("size"), m.get("sha256"), body.get("trial_s", 90)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= _MAX_MANIFEST:
        raise ValueError("manifest size must be 1..%d bytes, got %r" % (_MAX_MANIFEST, size))
    if not _is_sha(sha):
        raise ValueError("manifest sha256 must be 64 hex digits")
    if not isinstance(trial, int) or isinstance(trial, bool) or not 10 <= trial <= 3600:
        raise ValueError("trial_s must be 10..3600 seconds, got %r" % (trial,))
    return ident, version, size, sha, trial


def entry_of(line):
    """One manifest line -> (path, size, sha256); only beacon/<module>, config.json, ca.pem."""
    parts = line.split()
    if len(parts) != 3:
        raise UpdateError("manifest line %r is not '<path> <size> <sha256>'" % line[:60])
    path, size, sha = parts
    name = path[7:] if path.startswith("beacon/") else ""
    stem = name[:-3] if name.endswith(".py") else name[:-4] if name.endswith(".mpy") else ""
    if path not in ("config.json", "ca.pem") and not _is_word(stem, "_"):
        raise UpdateError("manifest names %r: only beacon/<module>.py|.mpy, config.json and"
                          " ca.pem may be updated" % path)
    try:
        size = int(size)
    except ValueError:
        size = -1
    if not 0 <= size <= _MAX_FILE or not _is_sha(sha):
        raise UpdateError("manifest line for %s has a bad size or sha256" % path)
    return path, size, sha


class Updater:
    """A link extra (see beacon.net): takes offers, pulls and checks the files, and
    confirms a new firmware once it reached the broker."""

    def __init__(self, cfg, link):
        base = protocol.topic(cfg["prefix"], "beacons", cfg["beacon"], "update")
        self._t_offer, self._t_data = base.encode(), (base + "/data").encode()
        self.topics = (self._t_offer, self._t_data)
        self._t_get, self._t_status = base + "/get", base + "/status"
        self._link = link
        self._offer = None  # the validated offer to work on
        self._wake = asyncio.Event()
        self._got = asyncio.Event()
        self._busy = False
        self._want = None  # (file, offset) of the chunk asked for
        self._id = b""
        self._f = self._h = None
        self._off = 0

    # -- from the link ------------------------------------------------------------

    async def connected(self, link):
        """This firmware reached the broker: confirm a trial, report the last result."""
        st = state()
        if st.get("state") == "trial":
            st["state"] = "done"
            save(st)
            log("update: firmware %s confirmed" % VERSION)
        if st.get("state") in ("done", "failed", "rolled_back"):
            await self._status(st.get("id"), st["state"], st.get("version"), st.get("reason"))

    def message(self, topic, payload, retained):
        if topic == self._t_data:
            self._data(payload)
        elif topic == self._t_offer:
            if not payload or self._busy:
                return True
            offer = offer_of(payload)
            st = state()
            if offer[0] == st.get("id"):
                return True  # this offer is done with (a retained leftover): never retried
            self._offer = offer
            self._wake.set()
        else:
            return False
        return True

    async def run(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            offer, self._offer = self._offer, None
            if offer:
                await self._update(offer)

    # -- the download -------------------------------------------------------------

    async def _update(self, offer):
        ident, version, size, sha, trial = offer
        self._busy, self._id = True, ident.encode()
        try:
            log("update: %s offered (running %s), downloading" % (version, VERSION))
            await self._status(ident, "downloading", version)
            patch, ca = await self._download(ident, size, sha)
            if patch:
                self._merge_config(patch)
            save({"state": "pending", "id": ident, "version": version, "from": VERSION,
                  "trial_s": trial, "config": bool(patch), "ca": ca,
                  "ca_added": ca and not _exists("ca.pem")})
        except UpdateError as e:
            why = str(e)
            log("update: %s refused: %s; keeping %s" % (version, why, VERSION))
            self._cleanup()
            save({"state": "failed", "id": ident, "version": version, "reason": why})
            await self._status(ident, "failed", version, why)
            return
        except OSError as e:  # the link or the filesystem: try again on the next offer
            log("update: %s interrupted: %s" % (version, e))
            self._cleanup()
            return
        finally:
            self._busy, self._want = False, None
        log("update: %s verified, restarting into it" % version)
        await self._status(ident, "installing", version)
        await asyncio.sleep_ms(500)  # let the status leave before the reset
        import machine

        machine.reset()

    async def _download(self, ident, size, sha):
        """Fetch the manifest, then every file it names, into NEW (a CA into ca.new);
        return (the config patch's path or None, whether a CA came)."""
        self._cleanup()
        os.mkdir(NEW)
        manifest = NEW + "/MANIFEST"
        await self._fetch(0, manifest, "the manifest", size, sha)
        patch, index, firmware, ca = None, 0, False, False
        with open(manifest) as m:
            for line in m:
                if not line.strip():
                    continue
                index += 1
                path, fsize, fsha = entry_of(line)
                if path == "config.json":
                    patch = NEW + "/config.patch"
                    await self._fetch(index, patch, path, fsize, fsha)
                elif path == "ca.pem":
                    ca = True
                    await self._fetch(index, "ca.new", path, fsize, fsha)
                else:
                    firmware = True
                    await self._fetch(index, NEW + "/" + path[7:], path, fsize, fsha)
        os.remove(manifest)
        if not firmware:
            raise UpdateError("the manifest names no firmware files")
        return patch, ca

    async def _fetch(self, index, dest, name, size, sha):
        self._h, self._off = sha256(), 0
        with open(dest, "wb") as f:
            self._f = f
            while self._off < size:
                await self._chunk(index, name)
                if self._off > size:
                    raise UpdateError("%s: larger than the %d bytes announced" % (name, size))
        self._f = None
        if hexlify(self._h.digest()).decode() != sha:
            raise UpdateError("%s: sha256 mismatch" % name)

    async def _chunk(self, index, name):
        ask = '{"v":1,"id":"%s","file":%d,"offset":%d}' % (self._id.decode(), index, self._off)
        for _ in range(_TRIES):
            self._got.clear()
            self._want = (index, self._off)
            if not await self._link.publish(self._t_get, ask.encode()):
                raise OSError("lost the broker")
            try:
                await asyncio.wait_for_ms(self._got.wait(), _CHUNK_WAIT_MS)
                return
            except asyncio.TimeoutError:
                pass
        raise UpdateError("no answer from the updater for %s at byte %d" % (name, self._off))

    def _data(self, payload):
        if self._want is None:
            return
        head = bytes(payload[:48])
        nl = head.find(b"\n")
        words = head[:nl].split() if nl > 0 else ()
        if len(words) != 3 or words[0] != self._id:
            return  # another update's, or noise
        if (int(words[1]), int(words[2])) != self._want:
            return  # a late duplicate of a chunk already written
        data = payload[nl + 1:]
        if not data:
            raise ValueError("an empty update chunk")
        self._f.write(data)
        self._h.update(data)
        self._off += len(data)
        self._want = None
        self._got.set()

    def _merge_config(self, patch):
        """config.json with the update's keys changed (null: back to the default)."""
        try:
            with open(patch) as f:
                change = json.load(f)
            with open("config.json") as f:
                cfg = json.load(f)
        except (OSError, ValueError):
            raise UpdateError("the config change is not a JSON object") from None
        if not isinstance(change, dict):
            raise UpdateError("the config change is not a JSON object")
        for key, value in change.items():
            if value is None:
                cfg.pop(key, None)
            else:
                cfg[key] = value
        with open("config.new", "w") as f:
            json.dump(cfg, f)
        os.remove(patch)

    def _cleanup(self):
        if self._f:
            self._f.close()
            self._f = None
        _rmtree(NEW)
        for name in ("config.new", "ca.new"):
            if _exists(name):
                os.remove(name)

    async def _status(self, ident, st, version, reason=None):
        body = {"v": 1, "id": ident, "state": st, "version": version, "running": VERSION}
        if reason:
            body["reason"] = reason[:200]
        await self._link.publish(self._t_status, json.dumps(body).encode(), True)
