"""A stand-in for Plasma's notification server, as far as inhibition goes (run as a script
on a test's session bus; it prints ``ready`` once it owns the name).

What it copies from plasma-workspace's ``libnotificationmanager/server_p.cpp``:
``Inhibit(s desktop_entry, s reason, a{sv} hints) → u cookie`` (an empty desktop entry gets
cookie 0 and no inhibition), ``UnInhibit(u cookie)``, the ``Inhibited`` property, and
the inhibition watcher: when the connection that asked for an inhibition leaves the bus,
its inhibitions end. It shows no notifications: a test asks it whether it would.
"""

from __future__ import annotations

from jeepney import HeaderFields, MatchRule, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
INTROSPECTION = """<node>
 <interface name="org.freedesktop.Notifications">
  <method name="Inhibit"><arg type="s" direction="in"/><arg type="s" direction="in"/>
   <arg type="a{sv}" direction="in"/><arg type="u" direction="out"/></method>
  <method name="UnInhibit"><arg type="u" direction="in"/></method>
  <property name="Inhibited" type="b" access="read"/>
 </interface>
</node>"""


def main() -> None:
    conn = open_dbus_connection(bus="SESSION")
    conn.send_and_get_reply(message_bus.RequestName(NAME))
    conn.send_and_get_reply(message_bus.AddMatch(MatchRule(
        type="signal", sender="org.freedesktop.DBus", interface="org.freedesktop.DBus",
        member="NameOwnerChanged")))
    print("ready", flush=True)
    cookies: dict[int, str] = {}  # cookie -> the unique name of the connection holding it
    last = 0
    while True:
        msg = conn.receive()
        fields = msg.header.fields
        member = fields.get(HeaderFields.member)
        if msg.header.message_type == MessageType.signal:
            if member == "NameOwnerChanged" and not msg.body[2]:  # a connection left
                cookies = {c: who for c, who in cookies.items() if who != msg.body[0]}
            continue
        if msg.header.message_type != MessageType.method_call:
            continue
        sender = fields.get(HeaderFields.sender, "")
        if member == "Introspect":
            reply = new_method_return(msg, "s", (INTROSPECTION,))
        elif member == "Inhibit":
            cookie = 0
            if msg.body[0]:
                last += 1
                cookie, cookies[last] = last, sender
            reply = new_method_return(msg, "u", (cookie,))
        elif member == "UnInhibit":
            cookies.pop(msg.body[0], None)
            reply = new_method_return(msg)
        elif member == "Get" and msg.body[1] == "Inhibited":
            reply = new_method_return(msg, "v", (("b", bool(cookies)),))
        else:
            reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod")
        conn.send(reply)


if __name__ == "__main__":
    main()
