/**
 * The few libsrt calls the SRT listener needs, through koffi (FFI), against
 * Debian's libsrt1.5-gnutls (installed with ffmpeg, which links it). Loaded on
 * first use, so a server with SRT_PORT=0 never touches it.
 *
 * Every call returns at once: sockets are non-blocking and srt_epoll_uwait is
 * polled with a zero timeout from a timer (srtServer.ts). Not `.async()` on
 * libuv's pool: a wait would hold one of its four threads (shared with fs,
 * dns, crypto) for as long as SRT is on, and several servers in one process
 * (tests, embedding) would starve it; a poll costs microseconds.
 */
import koffi from 'koffi';

/** Values from srt.h (SRT_SOCKOPT). */
export const SrtOption = {
  SNDSYN: 1,
  RCVSYN: 2,
  LATENCY: 23,
  PASSPHRASE: 26,
  RCVLATENCY: 43,
  STREAMID: 46,
  PEERIDLETIMEO: 55,
} as const;

export const SRT_EPOLL_IN = 0x1;
export const SRT_EPOLL_ERR = 0x8;
/** SRT_EASYNCRCV: nothing to read now (non-blocking). */
export const SRT_EASYNCRCV = 6002;
const SRT_ERROR = -1;
const SRT_INVALID_SOCK = -1;
/** srt.h CBytePerfMon is ~400 bytes; only its first fields are read. */
const PERF_BYTES = 1024;
const EPOLL_EVENT_BYTES = 8;

export class SrtError extends Error {
  override name = 'SrtError';
  constructor(
    call: string,
    readonly code: number,
    detail: string,
  ) {
    super(`${call}: ${detail}`);
  }
}

interface Bindings {
  startup: () => number;
  cleanup: () => number;
  setloglevel: (level: number) => void;
  createSocket: () => number;
  setsockflag: (u: number, opt: number, value: Buffer, len: number) => number;
  getsockflag: (u: number, opt: number, value: Buffer, len: number[]) => number;
  bind: (u: number, addr: Buffer, len: number) => number;
  listen: (u: number, backlog: number) => number;
  accept: (u: number, addr: Buffer, len: number[]) => number;
  recvmsg: (u: number, buf: Buffer, len: number) => number;
  close: (u: number) => number;
  getlasterror: (errno: null) => number;
  getlasterrorStr: () => string;
  epollCreate: () => number;
  epollAdd: (eid: number, u: number, events: Int32Array) => number;
  epollRemove: (eid: number, u: number) => number;
  epollRelease: (eid: number) => number;
  epollUwait: (eid: number, events: Buffer, size: number, timeoutMs: number) => number;
  bstats: (u: number, perf: Buffer, clear: number) => number;
}

let bindings: Bindings | undefined;

/** libsrt's functions (loads the library and calls srt_startup once). */
export function libsrt(): Bindings {
  if (bindings) return bindings;
  const lib = koffi.load('libsrt-gnutls.so.1.5');
  const b: Bindings = {
    startup: lib.func('int srt_startup()') as Bindings['startup'],
    cleanup: lib.func('int srt_cleanup()') as Bindings['cleanup'],
    setloglevel: lib.func('void srt_setloglevel(int ll)') as Bindings['setloglevel'],
    createSocket: lib.func('int srt_create_socket()') as Bindings['createSocket'],
    setsockflag: lib.func('int srt_setsockflag(int u, int opt, const void *optval, int optlen)') as Bindings['setsockflag'],
    getsockflag: lib.func('int srt_getsockflag(int u, int opt, _Out_ void *optval, _Inout_ int *optlen)') as Bindings['getsockflag'],
    bind: lib.func('int srt_bind(int u, const void *name, int namelen)') as Bindings['bind'],
    listen: lib.func('int srt_listen(int u, int backlog)') as Bindings['listen'],
    accept: lib.func('int srt_accept(int u, _Out_ void *addr, _Inout_ int *addrlen)') as Bindings['accept'],
    recvmsg: lib.func('int srt_recvmsg(int u, _Out_ void *buf, int len)') as Bindings['recvmsg'],
    close: lib.func('int srt_close(int u)') as Bindings['close'],
    getlasterror: lib.func('int srt_getlasterror(int *errno_loc)') as Bindings['getlasterror'],
    getlasterrorStr: lib.func('const char *srt_getlasterror_str()') as Bindings['getlasterrorStr'],
    epollCreate: lib.func('int srt_epoll_create()') as Bindings['epollCreate'],
    epollAdd: lib.func('int srt_epoll_add_usock(int eid, int u, const int *events)') as Bindings['epollAdd'],
    epollRemove: lib.func('int srt_epoll_remove_usock(int eid, int u)') as Bindings['epollRemove'],
    epollRelease: lib.func('int srt_epoll_release(int eid)') as Bindings['epollRelease'],
    epollUwait: lib.func('int srt_epoll_uwait(int eid, _Out_ void *fdsSet, int fdsSize, int64_t msTimeOut)') as Bindings['epollUwait'],
    bstats: lib.func('int srt_bstats(int u, _Out_ void *perf, int clear)') as Bindings['bstats'],
  };
  if (b.startup() < 0) throw new SrtError('srt_startup', b.getlasterror(null), b.getlasterrorStr());
  // LOG_CRIT (2): libsrt writes its errors to stderr, including "no pending connection" for every non-blocking accept.
  b.setloglevel(2);
  bindings = b;
  return b;
}

/** Throws SrtError when `result` is SRT's error value. */
export function check(call: string, result: number): number {
  if (result === SRT_ERROR || result === SRT_INVALID_SOCK) {
    const b = libsrt();
    throw new SrtError(call, b.getlasterror(null), b.getlasterrorStr());
  }
  return result;
}

export function setIntOption(u: number, option: number, value: number): void {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value);
  check(`srt_setsockflag(${option})`, libsrt().setsockflag(u, option, buffer, 4));
}

export function setStringOption(u: number, option: number, value: string): void {
  const buffer = Buffer.from(value, 'utf8');
  check(`srt_setsockflag(${option})`, libsrt().setsockflag(u, option, buffer, buffer.length));
}

export function getStringOption(u: number, option: number): string {
  const buffer = Buffer.alloc(768);
  const length = [buffer.length];
  check(`srt_getsockflag(${option})`, libsrt().getsockflag(u, option, buffer, length));
  return buffer.subarray(0, length[0]).toString('utf8');
}

/** struct sockaddr_in for an IPv4 address and port. */
export function sockaddrIn(ip: string, port: number): Buffer {
  const address = Buffer.alloc(16);
  address.writeUInt16LE(2, 0); // AF_INET, host byte order
  address.writeUInt16BE(port, 2);
  const octets = ip.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
    throw new Error(`SRT listens on IPv4 only; "${ip}" is not an IPv4 address`);
  for (let i = 0; i < 4; i++) address[4 + i] = octets[i]!;
  return address;
}

/** "a.b.c.d:port" from a struct sockaddr_in (or null for another family). */
export function describeSockaddr(address: Buffer): string | null {
  if (address.readUInt16LE(0) !== 2) return null;
  return `${address[4]}.${address[5]}.${address[6]}.${address[7]}`;
}

/** Received packets and the receiver's lost packets since the connection started. */
export function receiveStats(u: number): { received: number; lost: number } | undefined {
  const perf = Buffer.alloc(PERF_BYTES);
  if (libsrt().bstats(u, perf, 0) < 0) return undefined;
  // CBytePerfMon: int64 msTimeStamp, int64 pktSentTotal, int64 pktRecvTotal, int pktSndLossTotal, int pktRcvLossTotal.
  return { received: Number(perf.readBigInt64LE(16)), lost: perf.readInt32LE(28) };
}

/** Sockets ready now (never waits): [socket, events] pairs. */
export function epollReady(eid: number, capacity: number): [number, number][] {
  const events = Buffer.alloc(capacity * EPOLL_EVENT_BYTES);
  const count = libsrt().epollUwait(eid, events, capacity, 0);
  const ready: [number, number][] = [];
  for (let i = 0; i < count; i++) ready.push([events.readInt32LE(i * EPOLL_EVENT_BYTES), events.readInt32LE(i * EPOLL_EVENT_BYTES + 4)]);
  return ready;
}
