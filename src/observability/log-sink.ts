import { writeSync } from 'node:fs';

/** Sinks that still buffer: written out when the process exits, however it exits. */
const open = new Set<LogSink>();
process.on('exit', () => {
  for (const sink of open) sink.flush();
});

/**
 * Where log lines go: a file descriptor (stdout by default), written in batches as nginx writes its
 * access log with `buffer=` and `flush=`. Lines are kept in order in memory and written with one
 * `write(2)` when `bufferBytes` have gathered (after the responses of the current event-loop turn), when
 * `flushMs` has passed since the first unwritten line, on `flush()`, and when the process exits.
 *
 * Why: a cache hit is a few tens of µs of CPU, and a `write(2)` per line or per kilobyte is a large part
 * of that; what a line costs here is the gap between the cache-hit rows with the log on and off in
 * bench/RESULTS.md. Writes stay synchronous, so a line handed over is never lost to a clean exit, a
 * SIGTERM or an uncaught exception (the `exit` hook writes what is left); only SIGKILL or a crash of the
 * machine can lose the last `flushMs` of lines, as with nginx.
 * A reader that stops reading (a full pipe) blocks the writer, as a synchronous pino destination would.
 */
export class LogSink {
  /**
   * Lines are copied into this buffer as they come, so each line's string dies young (a string kept
   * until the flush would survive garbage collections and be copied by each). Twice `bufferBytes`, so
   * that lines arriving before the scheduled write still fit.
   */
  #buf: Buffer;
  #used = 0;
  #timer: NodeJS.Timeout | undefined;
  #scheduled = false;
  #broken = false;
  readonly #flushNow = () => this.flush();

  constructor(
    private readonly fd = 1,
    /** Bytes gathered before a write; 0 writes each line at once. */
    private bufferBytes = 64 * 1024,
    /** Longest a line waits in the buffer. */
    private readonly flushMs = 1000,
  ) {
    this.#buf = Buffer.allocUnsafe(Math.max(2 * bufferBytes, 4096));
    open.add(this);
  }

  /** Takes one or more whole lines (pino's `DestinationStream` contract). */
  write(line: string): boolean {
    if (this.#broken) return true;
    // At most 3 bytes per UTF-16 unit: a line that might not fit is written with what is buffered.
    if (this.#used + 3 * line.length > this.#buf.length) {
      this.flush();
      if (3 * line.length > this.#buf.length) {
        this.#writeAll(Buffer.from(line));
        return true;
      }
    }
    this.#used += this.#buf.write(line, this.#used);
    if (this.bufferBytes === 0) this.flush();
    else if (this.#used >= this.bufferBytes) {
      // After this turn's responses are on their way, not inside the request that filled the buffer.
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flushNow);
      }
    } else if (!this.#timer) {
      this.#timer = setTimeout(this.#flushNow, this.flushMs).unref();
    }
    return true;
  }

  /** Writes every buffered line now. The callback form is what `logger.flush(cb)` calls. */
  flush(done?: (err?: Error) => void): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#scheduled = false;
    if (this.#used) {
      const used = this.#used;
      this.#used = 0;
      this.#writeAll(this.#buf.subarray(0, used));
    }
    done?.();
  }

  /** Flushes; what is written afterwards is written at once. */
  close(): void {
    this.bufferBytes = 0;
    this.flush();
    open.delete(this);
  }

  #writeAll(buf: Buffer): void {
    let off = 0;
    while (off < buf.length && !this.#broken) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A non-blocking pipe that is full: wait a moment for its reader, as sonic-boom does.
        if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        // The reader has gone (EPIPE) or the descriptor is unusable: nothing more can be written.
        else this.#broken = true;
      }
    }
  }
}
