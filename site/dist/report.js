// The demo page's report of what brisk sent. For every file the page loaded
// from its own origin it shows how the file arrived: the status, the content
// encoding, the bytes transferred against the file's real size, and the
// protocol. It also tells how long the wasm module took from its request to
// a running instance, and whether it was compiled while it downloaded.
//
// Everything comes from the browser's own Performance entries (Resource
// Timing, Navigation Timing and the glue's measure of instantiation). The
// report never asks brisk for anything. Where a browser leaves something
// out (the content encoding before contentEncoding, the sizes of a file
// revalidated by Chromium's memory cache), it looks into the browser's HTTP
// cache with an only-if-cached fetch, which never reaches the network.

// Content codings that carry a delta against the version of the same file
// that the browser already had (Compression Dictionary Transport, RFC 9842),
// and the compressor each uses.
const DELTA_CODINGS = { dcb: "brotli", dcz: "zstd" };

// showReport fills table's body with one row per file, and notes (a list)
// with what the numbers mean. instantiated is the glue's performance measure
// of the wasm's instantiation, or undefined if the module never ran.
export async function showReport(table, notes, instantiated) {
  if (document.readyState !== "complete") {
    await new Promise((resolve) => addEventListener("load", resolve, { once: true }));
  }
  await linkedEntries(LINKED_TIMEOUT_MS);
  const entries = pageEntries();
  const rows = await Promise.all(entries.map(describe));

  const body = document.createElement("tbody");
  for (const row of rows) addRow(body, row);
  table.tBodies[0].replaceWith(body);

  notes.replaceChildren();
  for (const text of await explain(rows, entries, instantiated)) {
    notes.appendChild(document.createElement("li")).textContent = text;
  }
  table.dataset.state = "ready";
  table.removeAttribute("aria-busy");
}

// How long the report waits for the files that the page's links fetch.
const LINKED_TIMEOUT_MS = 30_000;

// linkedEntries waits until every file that a <link> of the page fetches has
// its Resource Timing entry, or for timeout milliseconds at most. The load
// event waits for stylesheets but not for preloads: a file preloaded and
// never used (the wasm, in a browser without WebAssembly) may still be
// downloading after it.
function linkedEntries(timeout) {
  const missing = new Set();
  for (const link of document.querySelectorAll("link[href]")) {
    if (!["stylesheet", "preload", "modulepreload"].some((rel) => link.relList.contains(rel))) {
      continue;
    }
    const url = new URL(link.href);
    if (url.origin === location.origin) missing.add(url.href);
  }
  return new Promise((resolve) => {
    if (missing.size === 0) return resolve();
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) missing.delete(e.name);
      if (missing.size === 0) done();
    });
    const timer = setTimeout(done, timeout);
    function done() {
      clearTimeout(timer);
      observer.disconnect();
      resolve();
    }
    // buffered: entries recorded before the observer also count.
    observer.observe({ type: "resource", buffered: true });
  });
}

// pageEntries returns the navigation entry of this page and the resource
// entries of the files it loaded from its own origin, one per URL (the first,
// which is the load the page used), in the order they started. brisk's own
// endpoints, such as the live-reload stream of --dev, are left out.
function pageEntries() {
  const seen = new Set();
  const entries = [];
  for (const e of [
    ...performance.getEntriesByType("navigation"),
    ...performance.getEntriesByType("resource"),
  ]) {
    const url = new URL(e.name);
    if (url.origin !== location.origin || url.pathname.startsWith("/_brisk/") || seen.has(e.name)) {
      continue;
    }
    seen.add(e.name);
    entries.push(e);
  }
  return entries;
}

// delivery classifies how an entry's body reached the page:
//   "download":    a 200 from the network, body included;
//   "revalidated": a conditional request answered 304 Not Modified, the
//                  body taken from the cache. Browsers report this as the
//                  cached 200 (responseStatus 200), with only the headers
//                  counted in transferSize; Chromium's memory cache reports
//                  zero body sizes instead;
//   "cache":       from the cache without any request (transferSize 0).
function delivery(e) {
  if (e.transferSize === 0) return "cache";
  if (
    e.responseStatus === 304 ||
    e.deliveryType === "cache" ||
    e.encodedBodySize === 0 ||
    e.transferSize < e.encodedBodySize
  ) {
    return "revalidated";
  }
  return "download";
}

// describe turns an entry into a row of the table.
async function describe(e) {
  const url = new URL(e.name);
  const row = {
    path: url.pathname + url.search,
    page: e.entryType === "navigation",
    how: delivery(e),
    encoding: "contentEncoding" in e ? e.contentEncoding : undefined,
    transfer: e.transferSize,
    size: e.decodedBodySize,
    protocol: e.nextHopProtocol,
  };
  const wantSize = row.size === 0;
  if (row.encoding === undefined || wantSize) {
    const cached = await fromCache(e.name, wantSize);
    if (cached) {
      row.encoding ??= cached.encoding;
      if (wantSize) row.size = cached.size;
    }
  }
  return row;
}

// fromCache reads what the browser's HTTP cache holds for url: its content
// encoding and, if wantSize, the length of its decoded body. only-if-cached
// never goes to the network; it fails when nothing is cached (with --dev,
// brisk sends no-store), and then fromCache returns null.
async function fromCache(url, wantSize) {
  try {
    const resp = await fetch(url, { cache: "only-if-cached", mode: "same-origin" });
    if (!resp.ok) {
      await resp.body?.cancel();
      return null;
    }
    const encoding = resp.headers.get("Content-Encoding") ?? "";
    if (!wantSize) {
      await resp.body?.cancel();
      return { encoding };
    }
    return { encoding, size: (await resp.arrayBuffer()).byteLength };
  } catch {
    return null;
  }
}

const STATUS = { download: "200", revalidated: "304", cache: "cache" };

function addRow(body, row) {
  const tr = body.insertRow();
  Object.assign(tr.dataset, {
    path: row.path,
    status: STATUS[row.how],
    encoding: row.encoding ?? "",
    transfer: row.transfer,
    size: row.size,
  });

  const file = tr.appendChild(document.createElement("th"));
  file.scope = "row";
  file.appendChild(pathCode(row.path));
  if (row.page) file.append(" (this page)");

  const cell = (text, className) => {
    const td = tr.insertCell();
    td.textContent = text;
    if (className) td.className = className;
  };
  cell(STATUS[row.how]);
  cell(encodingText(row.encoding));
  cell(bytes(row.transfer), "num");
  cell(row.size > 0 ? bytes(row.size) : "—", "num");
  cell(saved(row.transfer, row.size), "num");
  cell(row.protocol || "—");
}

// pathCode renders a path that may break after each slash on a narrow
// screen, and nowhere else.
function pathCode(path) {
  const code = document.createElement("code");
  const parts = path.split(/(?<=\/)/);
  parts.forEach((part, i) => {
    code.append(part);
    if (i < parts.length - 1) code.append(document.createElement("wbr"));
  });
  return code;
}

function encodingText(encoding) {
  if (encoding === undefined) return "not reported";
  if (encoding === "") return "none";
  if (encoding in DELTA_CODINGS) return `${encoding} (delta)`;
  return encoding;
}

// explain returns the notes under the table: totals, the wasm's timing, and
// what the statuses mean.
async function explain(rows, entries, instantiated) {
  const notes = [];
  const sized = rows.filter((r) => r.size > 0);
  const transfer = sized.reduce((n, r) => n + r.transfer, 0);
  const size = sized.reduce((n, r) => n + r.size, 0);
  if (sized.length > 0) {
    notes.push(
      `In all, ${bytes(transfer)} transferred for ${bytes(size)} of files ` +
        `(${saved(transfer, size)}).`,
    );
  }

  notes.push(wasmTiming(entries, instantiated));

  for (const r of rows.filter((r) => r.encoding in DELTA_CODINGS)) {
    notes.push(
      `${r.path} arrived as a delta against the previous version (${r.encoding}: ` +
        `${DELTA_CODINGS[r.encoding]} with the version your browser had as its dictionary): ` +
        `${bytes(r.transfer)} for a file of ${bytes(r.size)}.`,
    );
  }

  const revalidated = rows.filter((r) => r.how === "revalidated");
  const cached = rows.filter((r) => r.how === "cache");
  if (revalidated.length > 0) {
    const headers = revalidated.reduce((n, r) => n + r.transfer, 0);
    notes.push(
      `${count(revalidated.length, "file was", "files were")} revalidated: the browser ` +
        `asked whether its copy was still current, brisk answered 304 Not Modified (the ` +
        `ETag matched), and only headers crossed the network (${bytes(headers)} as the ` +
        `browser counts them); the bodies came from the cache. Browsers report such a ` +
        `response as their cached 200 with no body transferred: the 304 is inferred from that.`,
    );
  }
  if (cached.length > 0) {
    notes.push(
      `${count(cached.length, "file", "files")} came from the browser's cache without ` +
        `any request to brisk.`,
    );
  }
  if (revalidated.length === 0 && cached.length === 0) {
    // Whether a reload can revalidate depends on the browser having kept
    // the page.
    notes.push(
      (await fromCache(location.href, false))
        ? "Reload the page: the browser will revalidate each file, and brisk will answer " +
            "304 Not Modified, which costs almost no bytes."
        : "Your browser kept no copy of these files, so a reload will download them again " +
            "(brisk serve --dev sends Cache-Control: no-store, so that every rebuild shows; " +
            "developer tools can also turn the cache off).",
    );
  }
  return notes;
}

// wasmTiming tells how long the wasm took from the browser's request to a
// running instance and, when it was downloaded, whether instantiateStreaming
// had the download to work on before its last byte arrived. Times are from
// the start of the navigation, as in every Performance entry.
function wasmTiming(entries, instantiated) {
  if (!instantiated) {
    return "The wasm module did not start, so there is no compile time to report.";
  }
  const called = instantiated.startTime;
  const ready = called + instantiated.duration;
  const e = entries.find((e) => e.name === instantiated.detail?.url);
  if (!e) {
    return `wasm: compiled and instantiated in ${ms(instantiated.duration)}.`;
  }
  const timeline =
    `wasm: running ${ms(ready - e.startTime)} after it was requested. Requested at ` +
    `${ms(e.startTime)}, last byte at ${ms(e.responseEnd)}; instantiateStreaming started ` +
    `at ${ms(called)} and had the instance ready at ${ms(ready)} (times since the page ` +
    `was requested). `;
  if (!instantiated.detail.streaming) {
    return (
      timeline +
      "instantiateStreaming failed (see the console), so the module was compiled only " +
      "once the whole file had arrived."
    );
  }
  if (delivery(e) !== "download") {
    return timeline + "Its bytes came from the browser's cache, so there was no download to overlap.";
  }
  if (called < e.responseEnd) {
    return (
      timeline +
      `It was compiled while it downloaded: compilation began ${ms(e.responseEnd - called)} ` +
      `before the last byte arrived and was done ${ms(ready - e.responseEnd)} after it.`
    );
  }
  return (
    timeline +
    `The whole file was already there ${ms(called - e.responseEnd)} before compilation ` +
    `began, so there was no download left to overlap this time; ` +
    `compiling and instantiating took ${ms(instantiated.duration)}.`
  );
}

// Numbers and units are joined by a no-break space so that they never wrap
// apart.
const NBSP = "\u00a0";

// bytes formats a size in decimal units, as browsers' developer tools do,
// with at most three digits: 300 B, 5.3 kB, 424 kB, 1.8 MB.
function bytes(n) {
  if (n < 1000) return `${n}${NBSP}B`;
  const [v, unit] = n < 999_500 ? [n / 1e3, "kB"] : [n / 1e6, "MB"];
  return `${v.toFixed(v < 9.95 ? 1 : 0)}${NBSP}${unit}`;
}

// saved formats the change from size to transfer as a signed percentage:
// "−77 %" when brisk sent less than the file, "+13 %" when more. A change
// that rounds to −100 % but is not one keeps two decimals.
function saved(transfer, size) {
  if (!(size > 0)) return "—";
  const p = (transfer / size - 1) * 100;
  let text = Math.abs(Math.round(p)).toString();
  if (text === "100" && transfer > 0) text = Math.abs(p).toFixed(2);
  const sign = p < 0 && text !== "0" ? "\u2212" : p > 0 && text !== "0" ? "+" : "";
  return `${sign}${text}${NBSP}%`;
}

function ms(t) {
  return `${Math.round(t)}${NBSP}ms`;
}

function count(n, one, many) {
  return n === 1 ? `1 ${one}` : `${n} ${many}`;
}
