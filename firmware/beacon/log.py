# One place for log lines, so none of them can look like a JSON object: on a
# USB serial beacon stdout is also the channel to the host, which treats
# every line starting with "{" as protocol.


def log(msg):
    print("beacon:", msg)
