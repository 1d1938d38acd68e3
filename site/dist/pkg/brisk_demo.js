// Glue between the page and brisk_demo_bg.wasm, an ES module like the one
// wasm-bindgen emits.
//
// The wasm module is a Go program built for GOOS=wasip1 as a reactor
// (-buildmode=c-shared). It imports a few WASI preview 1 functions, which
// are implemented below on top of browser APIs, and its _initialize export
// must run once before any other export is called.

// WASI errno values (preview 1, witx "errno" enum).
const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_INVAL = 28;

// WASI clock ids and subscription/event types.
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const EVENTTYPE_CLOCK = 0;
const EVENTTYPE_FD_WRITE = 2;

// Sizes of WASI records in linear memory.
const SIZEOF_IOVEC = 8;
const SIZEOF_SUBSCRIPTION = 48;
const SIZEOF_EVENT = 32;

// crypto.getRandomValues refuses more than this many bytes per call.
const MAX_RANDOM_CHUNK = 65536;

// How many of the last lines written to stderr a crash report quotes.
const MAX_TAIL_LINES = 8;

// The instance's memory. Its buffer is replaced whenever the module grows its
// memory, so views onto it are made afresh for each use, never kept.
let memory;

const view = () => new DataView(memory.buffer);
const bytes = (ptr, len) => new Uint8Array(memory.buffer, ptr, len);

// The Go runtime called proc_exit, typically after a panic. Throwing unwinds
// the wasm stack back to the export's caller; the instance is not usable
// afterwards.
class ProcExit extends Error {
  constructor(code) {
    super(`Go program exited with code ${code}`);
    this.name = "ProcExit";
    this.code = code;
  }
}

// LineWriter turns the byte stream written to one file descriptor into
// console lines, so that a message split over several fd_write calls (as Go
// panics are) is logged as a whole. It remembers the last few lines so that
// a crash can be reported with Go's own explanation.
class LineWriter {
  constructor(log) {
    this.log = log;
    this.decoder = new TextDecoder();
    this.pending = "";
    this.tail = [];
  }

  write(chunk) {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = this.pending.indexOf("\n")) >= 0) {
      this.line(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
    }
  }

  flush() {
    this.pending += this.decoder.decode();
    if (this.pending !== "") this.line(this.pending);
    this.pending = "";
  }

  line(text) {
    this.log(text);
    this.tail.push(text);
    if (this.tail.length > MAX_TAIL_LINES) this.tail.shift();
  }
}

const stdout = new LineWriter((line) => console.log(line));
const stderr = new LineWriter((line) => console.error(line));
const outputs = { 1: stdout, 2: stderr };

// Writes zero to each u32 pointer: the demo has no arguments or environment.
function writeZeros(...ptrs) {
  const dv = view();
  for (const ptr of ptrs) dv.setUint32(ptr, 0, true);
  return ERRNO_SUCCESS;
}

// The wasi_snapshot_preview1 functions the Go runtime imports. Each returns
// an errno; i64 arguments arrive as BigInt.
const wasi = {
  fd_write(fd, iovs, iovsLen, nwrittenPtr) {
    const out = outputs[fd];
    if (out === undefined) return ERRNO_BADF;
    const dv = view();
    let n = 0;
    for (let i = 0; i < iovsLen; i++) {
      const iov = iovs + i * SIZEOF_IOVEC;
      const len = dv.getUint32(iov + 4, true);
      out.write(bytes(dv.getUint32(iov, true), len));
      n += len;
    }
    dv.setUint32(nwrittenPtr, n, true);
    return ERRNO_SUCCESS;
  },

  random_get(buf, len) {
    for (let off = 0; off < len; off += MAX_RANDOM_CHUNK) {
      crypto.getRandomValues(bytes(buf + off, Math.min(MAX_RANDOM_CHUNK, len - off)));
    }
    return ERRNO_SUCCESS;
  },

  clock_time_get(id, _precision, timePtr) {
    let ns;
    switch (id) {
      case CLOCK_REALTIME:
        // Whole microseconds stay below 2**53, so no precision is lost
        // before the conversion to BigInt.
        ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
        break;
      case CLOCK_MONOTONIC:
        ns = BigInt(Math.round(performance.now() * 1e6));
        break;
      default:
        return ERRNO_INVAL;
    }
    view().setBigUint64(timePtr, ns, true);
    return ERRNO_SUCCESS;
  },

  args_sizes_get(countPtr, bufSizePtr) {
    return writeZeros(countPtr, bufSizePtr);
  },

  args_get(_argv, _argvBuf) {
    return ERRNO_SUCCESS;
  },

  environ_sizes_get(countPtr, bufSizePtr) {
    return writeZeros(countPtr, bufSizePtr);
  },

  environ_get(_environ, _environBuf) {
    return ERRNO_SUCCESS;
  },

  proc_exit(code) {
    throw new ProcExit(code);
  },

  sched_yield() {
    return ERRNO_SUCCESS;
  },

  // The page's thread must never block, so every subscription is reported
  // as ready at once: a clock fires early (Go's scheduler re-checks its
  // timers and polls again if nothing is due), stdout and stderr are always
  // writable, and any other descriptor is bad.
  poll_oneoff(inPtr, outPtr, nsubscriptions, neventsPtr) {
    if (nsubscriptions === 0) return ERRNO_INVAL;
    const dv = view();
    for (let i = 0; i < nsubscriptions; i++) {
      const sub = inPtr + i * SIZEOF_SUBSCRIPTION;
      const ev = outPtr + i * SIZEOF_EVENT;
      const type = dv.getUint8(sub + 8);
      let errno = ERRNO_SUCCESS;
      if (type !== EVENTTYPE_CLOCK) {
        const fd = dv.getUint32(sub + 16, true);
        if (type !== EVENTTYPE_FD_WRITE || outputs[fd] === undefined) errno = ERRNO_BADF;
      }
      dv.setBigUint64(ev, dv.getBigUint64(sub, true), true); // userdata
      dv.setUint16(ev + 8, errno, true);
      dv.setUint8(ev + 10, type);
      dv.setBigUint64(ev + 16, 0n, true); // fd_readwrite.nbytes
      dv.setUint16(ev + 24, 0, true); // fd_readwrite.flags
    }
    dv.setUint32(neventsPtr, nsubscriptions, true);
    return ERRNO_SUCCESS;
  },
};

// The name of the performance measure that instantiate leaves behind: from
// the call that compiles the module to a usable instance. Its detail says
// whether the module was compiled while it downloaded ({ streaming: true })
// or only after the whole body had arrived. The demo page reports it.
export const INSTANTIATE_MEASURE = "brisk_demo: instantiate wasm";

// instantiate compiles the module while it downloads. instantiateStreaming
// insists on the Content-Type application/wasm; when it fails for that or
// any other reason, say so on the console and retry from the whole body.
async function instantiate(url, imports) {
  const resp = await fetchOK(url);
  const start = performance.now();
  let streaming = true;
  let result;
  try {
    result = await WebAssembly.instantiateStreaming(resp, imports);
  } catch (err) {
    console.error(
      `brisk_demo: WebAssembly.instantiateStreaming failed, falling back to WebAssembly.instantiate: ${err}`,
    );
    // A MIME type error leaves the body unread; other errors may not.
    const body = resp.bodyUsed ? await fetchOK(url) : resp;
    result = await WebAssembly.instantiate(await body.arrayBuffer(), imports);
    streaming = false;
  }
  performance.measure(INSTANTIATE_MEASURE, { start, detail: { url: resp.url, streaming } });
  return result;
}

async function fetchOK(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`fetching ${url}: HTTP ${resp.status} ${resp.statusText}`);
  return resp;
}

// Decodes the UTF-8 text of len bytes that the last hello or fib call left
// at out_ptr.
function text(exports, len) {
  // >>> 0 reads the i32 address as unsigned.
  return new TextDecoder().decode(bytes(exports.out_ptr() >>> 0, len));
}

// guard wraps a call into the module. A Go panic in a c-shared module ends
// in an "unreachable" trap (or proc_exit) after Go has printed the reason to
// stderr; the error thrown here carries that reason. The instance is
// unusable afterwards.
function guard(call) {
  return (...args) => {
    stderr.tail.length = 0; // quote only what this call said
    try {
      return call(...args);
    } catch (err) {
      stdout.flush();
      stderr.flush();
      const said = stderr.tail;
      if (said.length === 0) throw err;
      throw new Error(`Go crashed (${err}):\n${said.join("\n")}`, { cause: err });
    }
  };
}

let started;

// init loads and starts the wasm module once and returns the demo's API.
// Calling it again returns the same promise.
export default function init() {
  started ??= start();
  return started;
}

async function start() {
  const url = new URL("brisk_demo_bg.wasm", import.meta.url);
  const { instance } = await instantiate(url, { wasi_snapshot_preview1: wasi });
  const exports = instance.exports;
  memory = exports.memory;
  guard(() => exports._initialize())();
  return {
    /** Adds one to the counter and returns its new value. */
    increment: guard(() => exports.increment()),
    /** Returns the counter. */
    value: guard(() => exports.value()),
    /** Adds delta to the counter and returns its new value. */
    add: guard((delta) => exports.add(delta)),
    /** Returns Go's greeting, with its version and platform. */
    hello: guard(() => text(exports, exports.hello())),
    /** Returns the n-th Fibonacci number in decimal. */
    fib: guard((n) => text(exports, exports.fib(n))),
  };
}
