#!/usr/bin/env python3
"""An oidc-agent socket client on PyNaCl, written from the protocol description (the way
oidc-agent's own Python library talks): an independent peer for Tessera's compatibility socket.

usage: client.py SOCKET REQUEST_JSON [--plaintext] [--split]
Prints the reply (JSON) on stdout; exits 1 with a message on stderr when the exchange fails.
--split sends the encrypted request in small pieces with pauses (a slow client).
"""
import base64
import json
import socket
import sys
import time

from nacl.public import Box, PrivateKey, PublicKey


def recv_all(sock):
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise SystemExit("the server closed the connection during the key exchange")
        data += chunk
    return data


def main():
    path, request = sys.argv[1], sys.argv[2]
    plaintext = "--plaintext" in sys.argv
    split = "--split" in sys.argv
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    if plaintext:
        sock.sendall(request.encode())
        print(recv_all(sock).decode())
        return
    own = PrivateKey.generate()
    sock.sendall(base64.b64encode(bytes(own.public_key)))
    server_key = PublicKey(base64.b64decode(recv_exact(sock, 44), validate=True))
    box = Box(own, server_key)
    sealed = box.encrypt(request.encode())  # nonce || MAC || cipher, a fresh random nonce
    nonce, cipher = sealed[:24], sealed[24:]
    frame = b"%d:%s:%s" % (len(request.encode()), base64.b64encode(nonce), base64.b64encode(cipher))
    if split:
        for i in range(0, len(frame), 7):
            sock.sendall(frame[i:i + 7])
            time.sleep(0.01)
    else:
        sock.sendall(frame)
    reply = recv_all(sock)
    if reply.startswith(b"{"):
        raise SystemExit("the server answered an encrypted request in plaintext: %r" % reply[:80])
    length, reply_nonce, reply_cipher = reply.split(b":")
    message = box.decrypt(base64.b64decode(reply_cipher, validate=True), base64.b64decode(reply_nonce, validate=True))
    if len(message) != int(length):
        raise SystemExit("the reply's length field says %s, the message has %d bytes" % (length, len(message)))
    json.loads(message)
    print(message.decode())


if __name__ == "__main__":
    main()
