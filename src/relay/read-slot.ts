// Reading the sockets proxyd opens into buffers it owns (net's `onread`) instead of Node's default,
// a fresh 64 KiB Buffer per read that the garbage collector then reclaims. On a stream that is most
// of the CPU a relay spends in JavaScript; here the origin's bytes go from the kernel into a
// reused buffer and straight out to the client.
//
// Until a relay claims it, a socket behaves as any other (handshakes, HTTP parsing): each read is
// copied into a Buffer of its exact length and pushed to the socket's stream. Once claimed, a read
// is written to the client; when that write does not complete at once, the socket stops reading
// until it has (backpressure, and the buffer is not reused while the write still holds it).
//
// Memory: every socket reads into one shared buffer, and a read from it is copied before it is
// written (it is small: the next read of any socket goes there), so an idle tunnel holds no buffer.
// A read that fills the shared buffer means a stream: the socket then reads into a large buffer of
// its own, taken from a free list, which goes back when reads are small again or the socket closes.
import type { Socket, OnReadOpts } from 'node:net';

const SHARED_BYTES = 16 * 1024;
const shared = Buffer.allocUnsafeSlow(SHARED_BYTES);
const LARGE_BYTES = 128 * 1024;
/** large buffers kept for reuse: enough for the streams of a busy machine, 2 MiB at most */
const FREE_LIST_MAX = 16;
const freeList: Buffer[] = [];

const slots = new WeakMap<Socket, ReadSlot>();

/** The relay's side of a claimed socket. */
interface ReadSink {
  /** where the bytes go */
  to: Socket;
  /** called once, at the first byte after the claim (time to first byte) */
  firstByte?: () => void;
}

export class ReadSlot {
  #buf: Buffer = shared;
  #socket: Socket | undefined;
  #sink: ReadSink | undefined;
  /** a write has not completed: no read until it has (it may hold #buf) */
  #held = false;
  /** the size of the last read, which chooses the next buffer */
  #last = 0;

  /** The `onread` option for net.connect: Node asks for the next buffer after every read. */
  readonly onread: OnReadOpts = {
    buffer: () => this.#next(),
    callback: (n) => this.#read(n),
  };

  /** Ties the slot to the socket made with its `onread`. */
  bind(socket: Socket): Socket {
    this.#socket = socket;
    slots.set(socket, this);
    socket.on('close', this.#release);
    return socket;
  }

  /** The slot of a socket proxyd opened with one; undefined for any other socket. */
  static of(socket: Socket): ReadSlot | undefined {
    return slots.get(socket);
  }

  /**
   * From now on the bytes go to `sink.to` from the buffer. What was read before the claim waits
   * in the socket's stream; it is sent first. The caller ends `sink.to` on the socket's 'end'.
   */
  claim(sink: ReadSink): void {
    const socket = this.#socket!;
    this.#sink = sink;
    let early: Buffer | null;
    let any = false;
    while ((early = socket.read() as Buffer | null) !== null) {
      any = true;
      sink.to.write(early);
    }
    if (any) this.#fireFirstByte();
    socket.resume(); // reading stopped when the stream was paused or full before the claim
  }

  #read(n: number): boolean {
    const socket = this.#socket!;
    this.#last = n;
    const sink = this.#sink;
    const bytes = n === this.#buf.length ? this.#buf : this.#buf.subarray(0, n);
    if (!sink) return socket.push(Buffer.from(bytes));
    this.#fireFirstByte();
    sink.to.write(this.#buf === shared ? Buffer.from(bytes) : bytes, this.#written);
    if (sink.to.writableLength === 0) return true;
    // the write holds the buffer until it completes: read nothing more until then
    this.#held = true;
    socket.pause();
    return false;
  }

  readonly #written = (): void => {
    if (!this.#held || this.#sink!.to.writableLength !== 0) return;
    this.#held = false;
    this.#socket!.resume();
  };

  #fireFirstByte(): void {
    const first = this.#sink!.firstByte;
    if (!first) return;
    this.#sink!.firstByte = undefined;
    first();
  }

  /** The buffer for the next read: its own after a read that filled the shared one, the shared one after a small read. */
  #next(): Buffer {
    if (this.#held) return this.#buf;
    if (this.#buf === shared) {
      if (this.#last === SHARED_BYTES) this.#buf = freeList.pop() ?? Buffer.allocUnsafeSlow(LARGE_BYTES);
    } else if (this.#last < SHARED_BYTES / 2) {
      this.#giveBack();
    }
    return this.#buf;
  }

  #giveBack(): void {
    if (this.#buf !== shared && freeList.length < FREE_LIST_MAX) freeList.push(this.#buf);
    this.#buf = shared;
  }

  /** When the socket closes: its large buffer, unless a write still holds it, goes back for reuse. */
  readonly #release = (): void => {
    if (!this.#held) this.#giveBack();
  };
}
