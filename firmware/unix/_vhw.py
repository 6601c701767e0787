# Virtual hardware for the unix port: the other end of the machine/network
# seams. A test or the virtual beacon sends UDP datagrams to 127.0.0.1 on the
# port in env FOCUSLIGHT_VHW_PORT:
#   b"pin 15 0"  set input pin 15 low (a pressed button; pins idle high)
#   b"wifi 0"    drop Wi-Fi (b"wifi 1" brings it back)
#   b"mem"       gc.collect(), then print "mem alloc=N free=M" on stderr
# Never deployed to a board.
import gc
import os
import select
import socket
import sys

levels = {}
wifi = True
_poll = None


def _open():
    global _poll
    port = os.getenv("FOCUSLIGHT_VHW_PORT")
    _poll = select.poll()
    if port:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(socket.getaddrinfo("127.0.0.1", int(port))[0][-1])
        _poll.register(s, select.POLLIN)


def poll():
    """Apply every pending datagram; cheap enough to call on every pin read."""
    global wifi
    if _poll is None:
        _open()
    for s, _ in _poll.ipoll(0):
        word = s.recv(32).split()
        if word[0] == b"pin" and len(word) == 3:
            levels[int(word[1])] = int(word[2])
        elif word[0] == b"wifi" and len(word) == 2:
            wifi = word[1] == b"1"
        elif word[0] == b"mem":
            gc.collect()
            sys.stderr.write("mem alloc=%d free=%d\n" % (gc.mem_alloc(), gc.mem_free()))
