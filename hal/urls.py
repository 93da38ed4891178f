# The authority part of a URL, shared by the WebSocket and HTTP clients (portable subset).
# RFC 3986 §3.2: scheme "://" authority path-and-query; an IPv6 literal keeps its colons inside [].


def split_authority(rest):
    """(authority, path and query) of what follows the scheme's "//" (RFC 3986 §3.2)."""
    end = len(rest)
    for sep in "/?":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    return rest[:end], rest[end:]


def host_port(authority, port, url):
    """(host, port) of an authority without user info; port is the scheme's default. ValueError."""
    host = authority
    colon = authority.rfind(":")
    if colon > authority.rfind("]"):  # a port, not a colon inside an [IPv6] literal
        host = authority[:colon]
        try:
            port = int(authority[colon + 1:])
        except ValueError:
            raise ValueError("bad port in %r" % url)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not 0 < port < 65536:
        raise ValueError("bad host or port in %r" % url)
    return host, port
