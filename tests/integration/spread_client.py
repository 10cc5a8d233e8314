"""spread_client.py — a minimal Spread 4.x/5.x client for the integration tests.

It speaks the byte-exact client protocol of shared/specs/spread-client-protocol.md ("the spec"):
the handshake of §1.3, the 48-byte framing of §2 and the membership bodies of §4. It behaves like
the 5.0.1 C client on a little-endian host (headers little-endian with the 0x80000080 marker),
or, with big_endian=True, like the Java client (big-endian, no marker in `type` or `hint`).

It performs no client-side checks on what it sends: several tests send malformed requests on
purpose. What it receives it checks strictly (consistent endian marker, NUL-terminated names,
membership bodies that fit), because the daemon under test must never emit anything else; a
violation raises ProtocolError.

Every blocking operation takes a timeout; nothing waits forever. The socket is non-blocking and
waits go through `selectors`, so `pump()` can write to and read from several sessions at once
(a member that sends a lot must keep reading, or the daemon rightly treats it as a slow reader).

Thread-safety: none; use a Session from one thread.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

# ---- §3.1 `type` bits (sp.h names) ----
UNRELIABLE_MESS = 0x00000001
RELIABLE_MESS = 0x00000002
FIFO_MESS = 0x00000004
CAUSAL_MESS = 0x00000008
AGREED_MESS = 0x00000010
SAFE_MESS = 0x00000020
REGULAR_MESS = 0x0000003F
SELF_DISCARD = 0x00000040
CAUSED_BY_JOIN = 0x00000100
CAUSED_BY_LEAVE = 0x00000200
CAUSED_BY_DISCONNECT = 0x00000400
CAUSED_BY_NETWORK = 0x00000800
REG_MEMB_MESS = 0x00001000
TRANSITION_MESS = 0x00002000
MEMBERSHIP_MESS = 0x00003F00
JOIN_MESS = 0x00010000
LEAVE_MESS = 0x00020000
KILL_MESS = 0x00040000
REJECT_MESS = 0x00400000
SUBGROUP_CAST = 0x40000000
ENDIAN_TYPE = 0x80000080

SERVICES = {
    "UNRELIABLE": UNRELIABLE_MESS,
    "RELIABLE": RELIABLE_MESS,
    "FIFO": FIFO_MESS,
    "CAUSAL": CAUSAL_MESS,
    "AGREED": AGREED_MESS,
    "SAFE": SAFE_MESS,
}

# ---- §1.4 / §5.1 handshake answers ----
ACCEPT_SESSION = 1
REJECT_QUOTA = -3
REJECT_NO_NAME = -4
REJECT_ILLEGAL_NAME = -5
REJECT_NOT_UNIQUE = -6
REJECT_VERSION = -7
REJECT_AUTH = -9

# ---- §3.2 sizes ----
HEADER_BYTES = 48
NAME_BYTES = 32  # one group/sender field, NUL included
MAX_PRIVATE_NAME = 10
MAX_GROUPS_PER_MESSAGE = 100
MAX_MESSAGE_BODY_LEN = 144000  # 32 * num_groups + data_len, as the C client allows
AUTH_CHOICE_BYTES = 90
CLIENT_VERSION = (5, 0, 1)  # what the 5.0.1 C client sends


class ConnectionClosed(Exception):
    """The daemon closed the connection (EOF or reset)."""


class ProtocolError(Exception):
    """The daemon sent bytes the spec does not allow."""


class Rejected(Exception):
    """The daemon refused the handshake with a single negative byte (§1.4).

    code: the signed value, e.g. -6. step: 2 if it came in place of the auth-method list,
    5 if it came in place of the accept byte.
    """

    def __init__(self, code: int, step: int):
        super().__init__(f"handshake rejected with {code} at step {step}")
        self.code = code
        self.step = step


# ==== encoding ====================================================================================


def pack_name(name: str | bytes) -> bytes:
    """A 32-byte name field: the bytes NUL-padded. A 32-byte value is written without any NUL
    (malformed on purpose); longer values are an error of the test."""
    raw = name.encode("latin-1") if isinstance(name, str) else bytes(name)
    if len(raw) > NAME_BYTES:
        raise ValueError(f"name longer than {NAME_BYTES} bytes: {raw!r}")
    return raw.ljust(NAME_BYTES, b"\0")


def encode_hint(mess_type: int, big_endian: bool = False) -> bytes:
    """The 4 hint bytes a client writes: (mess_type << 8) & 0x00FFFF00, plus the marker when
    little-endian (§2.3)."""
    value = (mess_type << 8) & 0x00FFFF00
    if big_endian:
        return struct.pack(">I", value)
    return struct.pack("<I", value | ENDIAN_TYPE)


def encode_header(type_: int, sender: str | bytes, num_groups: int, hint: bytes, data_len: int,
                  big_endian: bool = False) -> bytes:
    """The 48-byte header (§2.1). `type_` without marker; `hint` as raw bytes (never swapped)."""
    if len(hint) != 4:
        raise ValueError("hint must be 4 bytes")
    if big_endian:
        return (struct.pack(">I", type_ & 0xFFFFFFFF) + pack_name(sender)
                + struct.pack(">i", num_groups) + hint + struct.pack(">i", data_len))
    return (struct.pack("<I", (type_ | ENDIAN_TYPE) & 0xFFFFFFFF) + pack_name(sender)
            + struct.pack("<i", num_groups) + hint + struct.pack("<i", data_len))


def encode_message(type_: int, sender: str | bytes, groups: Sequence[str | bytes],
                   data: bytes = b"",
                   mess_type: int = 0, big_endian: bool = False, hint: bytes | None = None,
                   num_groups: int | None = None, data_len: int | None = None) -> bytes:
    """A whole client → daemon message: header, 32-byte group names, payload.

    `hint`, `num_groups` and `data_len` override the computed fields (for malformed requests);
    the names and payload written are still exactly `groups` and `data`.
    """
    if hint is None:
        hint = encode_hint(mess_type, big_endian)
    header = encode_header(type_, sender, len(groups) if num_groups is None else num_groups, hint,
                           len(data) if data_len is None else data_len, big_endian)
    return header + b"".join(pack_name(g) for g in groups) + bytes(data)


def connect_message(name: str | bytes, membership: bool = True, priority: bool = False,
                    version: tuple[int, int, int] = CLIENT_VERSION) -> bytes:
    """Step 1 of the handshake: major, minor, patch, flags, N, name (§1.3). Like the C client the
    name is cut to 10 bytes."""
    raw = name.encode("latin-1") if isinstance(name, str) else bytes(name)
    raw = raw[:MAX_PRIVATE_NAME]
    flags = (0x01 if membership else 0) | (0x10 if priority else 0)
    return bytes([version[0], version[1], version[2], flags, len(raw)]) + raw


def auth_choice(method: str | bytes = "NULL") -> bytes:
    """Step 3: 90 bytes, the method name in the first 30-byte slot, NUL-padded."""
    raw = method.encode("latin-1") if isinstance(method, str) else bytes(method)
    if len(raw) > 30:
        raise ValueError("auth method name longer than 30 bytes")
    return raw.ljust(AUTH_CHOICE_BYTES, b"\0")


# ==== decoding ====================================================================================


def signed8(b: int) -> int:
    return b - 256 if b >= 128 else b


def _signed16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v >= 0x8000 else v


def _decode_name(field_bytes: bytes, what: str) -> str:
    nul = field_bytes.find(b"\0")
    if nul < 0:
        raise ProtocolError(f"{what} is not NUL-terminated within 32 bytes: {field_bytes!r}")
    return field_bytes[:nul].decode("latin-1")


def header_order(type_bytes: bytes) -> str:
    """'<' or '>' from the marker bits of `type` (§2.2: bytes 0 and 3 both have bit 7 set = LE,
    both clear = BE). A mixed marker is never legal from the daemon."""
    lo, hi = type_bytes[0] & 0x80, type_bytes[3] & 0x80
    if lo and hi:
        return "<"
    if not lo and not hi:
        return ">"
    raise ProtocolError(f"inconsistent endian marker in type bytes {type_bytes.hex()}")


def type_name(t: int) -> str:
    """A readable rendering of a `type` value (marker cleared), for failure messages."""
    names = [n for n, v in (("REG_MEMB", REG_MEMB_MESS), ("TRANSITION", TRANSITION_MESS),
                            ("JOIN", CAUSED_BY_JOIN), ("LEAVE", CAUSED_BY_LEAVE),
                            ("DISCONNECT", CAUSED_BY_DISCONNECT), ("NETWORK", CAUSED_BY_NETWORK),
                            ("REJECT", REJECT_MESS), ("SELF_DISCARD", SELF_DISCARD),
                            ("SUBGROUP_CAST", SUBGROUP_CAST)) if t & v]
    names = [n for n, v in SERVICES.items() if t & v] + names
    rest = t & ~(REGULAR_MESS | SELF_DISCARD | MEMBERSHIP_MESS | REJECT_MESS | SUBGROUP_CAST)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


@dataclass
class Message:
    """One daemon → client message, decoded the way SP_scat_receive/SP_get_memb_info do (§4.6).

    mess_type: for a regular or reject message, bits 8..23 of the hint (swapped first if its
    marker differs from this little-endian reader's) as a signed 16-bit value; for REG_MEMB the
    index of the receiver's private group in the member list (-1 if absent); otherwise -1.
    endian_mismatch: the hint needed swapping (regular and reject messages only, as in C).
    """

    type: int  # host order, marker cleared (REJECT: old_type | REJECT_MESS)
    sender: str
    groups: list[str]
    hint_raw: bytes
    mess_type: int
    endian_mismatch: bool
    data: bytes
    little_endian: bool  # byte order of the header as the daemon wrote it
    raw: bytes  # the whole message as received
    group_id: tuple[int, int, int] | None = None  # REG_MEMB and TRANSITION
    vs_sets: list[list[str]] = field(default_factory=list)  # REG_MEMB
    local_vs_set: int | None = None  # REG_MEMB: index into vs_sets from local_vs_set_offset
    changed_member: str | None = None  # REG_MEMB by JOIN/LEAVE/DISCONNECT

    @property
    def service(self) -> int:
        return self.type & REGULAR_MESS

    def is_regular(self) -> bool:
        return bool(self.type & REGULAR_MESS) and not self.type & REJECT_MESS

    def is_reject(self) -> bool:
        return bool(self.type & REJECT_MESS)

    def is_membership(self) -> bool:
        return bool(self.type & MEMBERSHIP_MESS) and not self.type & REJECT_MESS

    def is_reg_memb(self) -> bool:
        return self.is_membership() and bool(self.type & REG_MEMB_MESS)

    def is_transition(self) -> bool:
        return self.is_membership() and bool(self.type & TRANSITION_MESS)

    def is_self_leave(self) -> bool:
        return (bool(self.type & CAUSED_BY_LEAVE)
                and not self.type & (REG_MEMB_MESS | TRANSITION_MESS))

    def cause(self) -> str | None:
        """The CAUSED_BY_* bit of a membership message by name, None otherwise."""
        if not self.is_membership():
            return None
        for name, bit in (("JOIN", CAUSED_BY_JOIN), ("LEAVE", CAUSED_BY_LEAVE),
                          ("DISCONNECT", CAUSED_BY_DISCONNECT), ("NETWORK", CAUSED_BY_NETWORK)):
            if self.type & bit:
                return name
        return None

    def __repr__(self) -> str:
        text = f"<{type_name(self.type)} from {self.sender!r} to {self.groups}"
        if self.is_regular():
            body = self.data if len(self.data) <= 40 else self.data[:40] + b"..."
            text += f" mess_type={self.mess_type} {len(self.data)}B {body!r}"
        if self.group_id is not None:
            text += f" gid={self.group_id}"
        if self.is_reg_memb():
            text += f" vs_sets={self.vs_sets} local={self.local_vs_set}"
        return text + ">"


def message_size(header: bytes) -> int:
    """Total bytes of the message that starts with this 48-byte header."""
    order = header_order(header[0:4])
    type_, = struct.unpack(order + "I", header[0:4])
    num_groups, = struct.unpack(order + "i", header[36:40])
    data_len, = struct.unpack(order + "i", header[44:48])
    if num_groups < 0 or data_len < 0:
        raise ProtocolError(f"negative num_groups {num_groups} or data_len {data_len}")
    extra = 4 if type_ & REJECT_MESS else 0
    return HEADER_BYTES + extra + NAME_BYTES * num_groups + data_len


def decode_message(raw: bytes, private_group: str | None = None) -> Message:
    """Decodes exactly one whole message. `private_group` (the receiver's) gives REG_MEMB's
    mess_type, as in the C client."""
    order = header_order(raw[0:4])
    type_, = struct.unpack(order + "I", raw[0:4])
    type_ &= ~ENDIAN_TYPE & 0xFFFFFFFF
    sender = _decode_name(raw[4:36], "sender")
    num_groups, = struct.unpack(order + "i", raw[36:40])
    hint_raw = raw[40:44]
    data_len, = struct.unpack(order + "i", raw[44:48])
    pos = HEADER_BYTES
    if type_ & REJECT_MESS:  # §2.6: the original type follows the header
        old_type, = struct.unpack(order + "I", raw[pos:pos + 4])
        type_ = (old_type & ~ENDIAN_TYPE & 0xFFFFFFFF) | REJECT_MESS
        pos += 4
    groups = [_decode_name(raw[pos + NAME_BYTES * i:pos + NAME_BYTES * (i + 1)], f"group {i}")
              for i in range(num_groups)]
    pos += NAME_BYTES * num_groups
    data = raw[pos:pos + data_len]
    if len(data) != data_len or pos + data_len != len(raw):
        raise ProtocolError(f"message length mismatch: {len(raw)} bytes for header "
                            f"{raw[:48].hex()}")

    msg = Message(type=type_, sender=sender, groups=groups, hint_raw=hint_raw, mess_type=-1,
                  endian_mismatch=False, data=data, little_endian=(order == "<"), raw=raw)
    if msg.is_regular() or msg.is_reject():
        hint_le, = struct.unpack("<I", hint_raw)
        if hint_le & ENDIAN_TYPE == ENDIAN_TYPE:
            hint = hint_le
        else:  # the original sender was big-endian: swap, as the C client on LE does
            hint, = struct.unpack(">I", hint_raw)
            msg.endian_mismatch = True
        msg.mess_type = _signed16((hint & ~ENDIAN_TYPE) >> 8)
    elif msg.is_reg_memb():
        _decode_reg_memb(msg, order)
        if private_group is not None and private_group in groups:
            msg.mess_type = groups.index(private_group)
    elif msg.is_transition():
        if data_len < 12:
            raise ProtocolError(f"transitional message with {data_len} body bytes")
        msg.group_id = struct.unpack(order + "iii", data[0:12])
    return msg


def _decode_reg_memb(msg: Message, order: str) -> None:
    """§4.2 body: gid, num_vs_sets, local_vs_set_offset (from body offset 20), then the sets."""
    data = msg.data
    if len(data) < 20:
        raise ProtocolError(f"REG_MEMB body of {len(data)} bytes")
    msg.group_id = struct.unpack(order + "iii", data[0:12])
    num_sets, local_offset = struct.unpack(order + "II", data[12:20])
    pos = 20
    starts = []
    for i in range(num_sets):
        if pos + 4 > len(data):
            raise ProtocolError(f"vs-set {i} of {num_sets} runs past the body: {data.hex()}")
        starts.append(pos - 20)
        count, = struct.unpack(order + "I", data[pos:pos + 4])
        pos += 4
        if pos + NAME_BYTES * count > len(data):
            raise ProtocolError(f"vs-set {i} with {count} members runs past the body")
        msg.vs_sets.append([_decode_name(data[pos + NAME_BYTES * k:pos + NAME_BYTES * (k + 1)],
                                         f"vs-set {i} member {k}") for k in range(count)])
        pos += NAME_BYTES * count
    if pos != len(data):
        raise ProtocolError(f"REG_MEMB body has {len(data) - pos} bytes after its vs-sets")
    if num_sets:
        if local_offset not in starts:
            raise ProtocolError(f"local_vs_set_offset {local_offset} is not the start of a "
                                f"vs-set {starts}")
        msg.local_vs_set = starts.index(local_offset)
    if msg.type & (CAUSED_BY_JOIN | CAUSED_BY_LEAVE | CAUSED_BY_DISCONNECT):
        # SP_get_memb_info: the 32 bytes at body offset 24 (first name of the first set).
        msg.changed_member = msg.vs_sets[0][0] if msg.vs_sets and msg.vs_sets[0] else None


# ==== sessions ====================================================================================


def _deadline(timeout: float) -> float:
    return time.monotonic() + timeout


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class Session:
    """One connected, handshaken client connection (a Spread "mailbox")."""

    def __init__(self, sock: socket.socket, private_group: str, big_endian: bool,
                 daemon_version: tuple[int, int, int], auth_methods: list[str]):
        self.sock = sock
        self.private_group = private_group
        self.big_endian = big_endian
        self.daemon_version = daemon_version
        self.auth_methods = auth_methods
        self._buf = bytearray()
        self._eof = False
        self.closed = False

    def __repr__(self) -> str:
        return f"<Session {self.private_group}>"

    def fileno(self) -> int:
        return self.sock.fileno()

    # ---- sending ----

    def send_raw(self, data: bytes, timeout: float = 10.0) -> None:
        """Writes all bytes (raises TimeoutError if the daemon stops reading, ConnectionClosed
        if it closed the connection)."""
        _send_all(self.sock, data, _deadline(timeout))

    def _request(self, type_: int, group: str | bytes) -> None:
        self.send_raw(encode_message(type_, self.private_group, [group], b"",
                                     big_endian=self.big_endian))

    def join(self, group: str | bytes) -> None:
        self._request(JOIN_MESS, group)

    def leave(self, group: str | bytes) -> None:
        self._request(LEAVE_MESS, group)

    def multicast(self, service: int, groups: str | bytes | Sequence[str | bytes], data: bytes,
                  mess_type: int = 0, self_discard: bool = False) -> None:
        """Sends `data` with the given type bits (not checked) to one group or a list."""
        if isinstance(groups, (str, bytes)):
            groups = [groups]
        type_ = service | (SELF_DISCARD if self_discard else 0)
        self.send_raw(encode_message(type_, self.private_group, list(groups), data, mess_type,
                                     big_endian=self.big_endian))

    def disconnect(self) -> None:
        """SP_disconnect: KILL to the own private group, then close (§2.3)."""
        try:
            self._request(KILL_MESS, self.private_group)
        except ConnectionClosed:
            pass
        self.close()

    def kill(self) -> None:
        """SP_kill: close without a word."""
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    # ---- receiving ----

    def pending(self) -> bool:
        """A whole message is already buffered."""
        if len(self._buf) < HEADER_BYTES:
            return False
        return len(self._buf) >= message_size(bytes(self._buf[:HEADER_BYTES]))

    def _take(self) -> Message | None:
        if not self.pending():
            return None
        size = message_size(bytes(self._buf[:HEADER_BYTES]))
        raw = bytes(self._buf[:size])
        del self._buf[:size]
        return decode_message(raw, self.private_group)

    def _read_available(self, limit: int = 1 << 22) -> int:
        """Reads what the socket holds (at most about `limit` bytes) without blocking; returns
        the byte count. EOF or a reset only sets the flag that receive() turns into
        ConnectionClosed once no whole message remains buffered."""
        total = 0
        while not self._eof and total < limit:
            try:
                chunk = self.sock.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                break
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self._eof = True
                break
            self._buf += chunk
            total += len(chunk)
        return total

    def receive(self, timeout: float = 5.0) -> Message:
        """The next message. Raises TimeoutError, or ConnectionClosed once the stream ended
        (a partial message left at EOF is also ConnectionClosed)."""
        deadline = _deadline(timeout)
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            if self._eof:
                raise ConnectionClosed(f"{self.private_group}: connection closed by the daemon"
                                       + (f" ({len(self._buf)} bytes of a partial message)"
                                          if self._buf else ""))
            if not self._read_available() and not self._eof:
                if not _wait(self.sock, selectors.EVENT_READ, deadline):
                    raise TimeoutError(f"{self.private_group}: no message within {timeout} s")

    def receive_until(self, pred: Callable[[Message], bool],
                      timeout: float = 10.0) -> tuple[Message, list[Message]]:
        """Skips messages until pred matches; returns (match, skipped). TimeoutError names the
        messages skipped so far."""
        deadline = _deadline(timeout)
        skipped: list[Message] = []
        while True:
            try:
                msg = self.receive(_remaining(deadline))
            except TimeoutError:
                raise TimeoutError(f"{self.private_group}: no matching message within {timeout} s;"
                                   f" skipped {skipped}") from None
            if pred(msg):
                return msg, skipped
            skipped.append(msg)

    def expect_nothing(self, timeout: float = 0.5) -> None:
        """Asserts that no message arrives within `timeout`."""
        try:
            msg = self.receive(timeout)
        except TimeoutError:
            return
        raise AssertionError(f"{self.private_group}: unexpected message {msg!r}")

    def wait_closed(self, timeout: float = 2.0) -> list[Message]:
        """Reads until the daemon closes the connection; returns what arrived before. Raises
        AssertionError if the connection is still open after `timeout`."""
        deadline = _deadline(timeout)
        got: list[Message] = []
        while True:
            try:
                got.append(self.receive(_remaining(deadline)))
            except ConnectionClosed:
                return got
            except TimeoutError:
                raise AssertionError(f"{self.private_group}: connection still open after "
                                     f"{timeout} s (received {got[-5:]})") from None


def _wait(sock: socket.socket, events: int, deadline: float) -> bool:
    """Waits for `events` on `sock` until `deadline`; False on timeout."""
    with selectors.DefaultSelector() as sel:
        sel.register(sock, events)
        return bool(sel.select(_remaining(deadline)))


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
        except (BlockingIOError, InterruptedError):
            if not _wait(sock, selectors.EVENT_WRITE, deadline):
                raise TimeoutError(f"daemon did not accept {len(view)} more bytes") from None
            continue
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ConnectionClosed(f"send failed: {e}") from None
        view = view[n:]


def recv_exact(sock: socket.socket, n: int, deadline: float, what: str = "bytes") -> bytes:
    """Exactly n bytes from a non-blocking socket by `deadline` (a time.monotonic() value)."""
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (BlockingIOError, InterruptedError):
            if not _wait(sock, selectors.EVENT_READ, deadline):
                raise TimeoutError(f"no {what} within the timeout"
                                   f" (got {bytes(buf).hex()})") from None
            continue
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise ConnectionClosed(f"connection closed while reading {what}"
                                   f" (got {bytes(buf).hex()})")
        buf += chunk
    return bytes(buf)


def open_socket(endpoint: str | os.PathLike | tuple[str, int],
                timeout: float = 5.0) -> socket.socket:
    """A connected, non-blocking socket: a Unix-domain path or a (host, port) TCP address."""
    if isinstance(endpoint, tuple):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        endpoint = os.fspath(endpoint)
    try:
        sock.settimeout(timeout)
        sock.connect(endpoint)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def connect(endpoint: str | os.PathLike | tuple[str, int], name: str | bytes,
            membership: bool = True, priority: bool = False, timeout: float = 5.0,
            big_endian: bool = False, *, version: tuple[int, int, int] = CLIENT_VERSION,
            auth_method: str | bytes = "NULL", write_chunk: int = 0,
            write_pause: float = 0.0) -> Session:
    """Connects and performs the handshake of §1.3 within `timeout`.

    Raises Rejected(code, step) for a negative byte, ConnectionClosed on EOF, TimeoutError.
    version/auth_method change what is sent in steps 1 and 3; write_chunk > 0 splits every
    handshake write into pieces of that many bytes with write_pause seconds between them.
    """
    deadline = _deadline(timeout)
    sock = open_socket(endpoint, timeout)
    try:
        def write(data: bytes) -> None:
            step = write_chunk or len(data)
            for i in range(0, len(data), step):
                if i and write_pause:
                    time.sleep(write_pause)  # the stimulus under test, not a wait
                _send_all(sock, data[i:i + step], deadline)

        # Step 1, then step 2: the auth-method list or a reject byte.
        write(connect_message(name, membership, priority, version))
        length = signed8(recv_exact(sock, 1, deadline, "auth-list length")[0])
        if length < 0:
            raise Rejected(length, 2)
        methods = recv_exact(sock, length, deadline, "auth list").decode("latin-1").split()
        # Step 3 (NULL: no step 4), then step 5: accept or a reject byte.
        write(auth_choice(auth_method))
        accept = signed8(recv_exact(sock, 1, deadline, "accept byte")[0])
        if accept < 0:
            raise Rejected(accept, 5)
        if accept != ACCEPT_SESSION:
            raise ProtocolError(f"accept byte {accept}")
        major, minor, patch, plen = recv_exact(sock, 4, deadline, "accept version and length")
        if plen >= NAME_BYTES:
            raise ProtocolError(f"private group length {plen}")
        private = recv_exact(sock, plen, deadline, "private group").decode("latin-1")
        return Session(sock, private, big_endian, (major, minor, patch), methods)
    except BaseException:
        sock.close()
        raise


# ==== several sessions at once ====================================================================


def receive_any(sessions: Iterable[Session], timeout: float = 5.0) -> tuple[Session, Message]:
    """The next message from whichever session has one first. ConnectionClosed if one of them
    reaches EOF with nothing buffered."""
    sessions = list(sessions)
    deadline = _deadline(timeout)
    while True:
        for s in sessions:
            if s.pending() or s._eof:
                return s, s.receive(0)
        with selectors.DefaultSelector() as sel:
            for s in sessions:
                sel.register(s.sock, selectors.EVENT_READ, s)
            ready = sel.select(_remaining(deadline))
        if not ready:
            raise TimeoutError(f"no message on {sessions} within {timeout} s")
        for key, _ in ready:
            key.data._read_available()


def pump(outgoing: dict[Session, bytes], readers: Iterable[Session],
         until: Callable[[dict[Session, list[Message]]], bool],
         timeout: float = 30.0) -> dict[Session, list[Message]]:
    """Writes each session's outgoing bytes while reading every reader, so that no member
    stalls the daemon (or gets cut off as a slow reader) by not reading while it sends.

    Returns the messages each reader received, once all bytes are written and until(received)
    is true. A reader whose connection closes stops being read (its list ends there; the
    session is then closed by the caller). Raises TimeoutError with progress details.
    """
    readers = list(readers)
    received: dict[Session, list[Message]] = {r: [] for r in readers}
    views = {s: memoryview(data) for s, data in outgoing.items() if data}
    open_readers = set(readers)
    deadline = _deadline(timeout)

    def drain(r: Session) -> None:
        r._read_available()
        while (msg := r._take()) is not None:
            received[r].append(msg)
        if r._eof:
            open_readers.discard(r)

    while True:
        for r in list(open_readers):
            drain(r)
        if not views and until(received):
            return received
        if time.monotonic() >= deadline:
            raise TimeoutError(
                "pump: timed out; unsent bytes "
                + str({s.private_group: len(v) for s, v in views.items()})
                + "; received " + str({r.private_group: len(m) for r, m in received.items()}))
        with selectors.DefaultSelector() as sel:
            socks: dict[int, int] = {}
            for r in open_readers:
                socks[r.fileno()] = selectors.EVENT_READ
            for s in views:
                socks[s.fileno()] = socks.get(s.fileno(), 0) | selectors.EVENT_WRITE
            if not socks:
                raise AssertionError("pump: nothing left to read or write, condition still false")
            for fd, ev in socks.items():
                sel.register(fd, ev)
            ready = sel.select(min(0.5, _remaining(deadline)))
        for key, ev in ready:
            if ev & selectors.EVENT_WRITE:
                s = next(s for s in views if s.fileno() == key.fd)
                try:
                    n = s.sock.send(views[s])
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError) as e:
                    raise ConnectionClosed(f"pump: {s.private_group} send failed: {e}") from None
                views[s] = views[s][n:]
                if not views[s]:
                    del views[s]
