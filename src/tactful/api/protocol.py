"""uvicorn's HTTP protocol, answering requests it cannot parse in the SPEC error shape.

A request that is not valid HTTP/1.1 (a broken request line, a bad header, a header block
over h11's size limit, broken chunked framing) never reaches the application: uvicorn
answers it itself with a plain-text 400 and closes the connection. This protocol sends the
same 400 as ``{"error": {"code": "bad_request", ...}}`` JSON instead. ``tactful serve``
passes it to uvicorn as ``http=``.

What still cannot get the shape: bytes that are not HTTP at all after the response has
begun (the connection is closed), and a peer that closes or times out mid-request (nothing
is sent).
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

BAD_REQUEST = json.dumps(
    {"error": {"code": "bad_request", "message": "invalid HTTP request", "field": None}},
    separators=(",", ":"),
).encode()


class JsonErrorH11Protocol(H11Protocol):
    """:class:`H11Protocol` whose protocol-level 400 is JSON in the SPEC error shape."""

    def send_400_response(self, msg: str) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # a response already began
            self.transport.close()
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BAD_REQUEST)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(
            self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
        )
        self.transport.write(self.conn.send(h11.Data(data=BAD_REQUEST)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
