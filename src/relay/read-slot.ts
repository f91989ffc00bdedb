// Reading the sockets proxyd opens into buffers it owns (net's `onread`) instead of Node's default,
// a fresh 64 KiB Buffer per read that the garbage collector then reclaims. On a stream that is most
// of the CPU a relay spends in JavaScript; here the origin's bytes go from the kernel into a
// reused buffer and straight out to the client.
//
// Until a relay claims it, a socket behaves as any other (handshakes, HTTP parsing): each read is
// copied into a Buffer of its exact length and pushed to the socket's stream. Once claimed, a read
// is written to the client from the buffer itself; when that write does not complete at once, the
// socket stops reading until it has, so one buffer serves the whole tunnel and nothing piles up.
//
// Memory: every socket keeps a small buffer of its own; one that fills it borrows a large one from a
// shared free list and gives it back when reads are small again, so an idle tunnel holds 2 KiB.
import type { Socket, OnReadOpts } from 'node:net';

const SMALL_BYTES = 2 * 1024;
export const LARGE_BYTES = 64 * 1024;
/** large buffers kept for reuse: enough for the streams of a busy machine, 1 MiB at most */
const FREE_LIST_MAX = 16;
const freeList: Buffer[] = [];

const slots = new WeakMap<Socket, ReadSlot>();

/** The relay's side of a claimed socket. */
export interface ReadSink {
  /** where the bytes go */
  to: Socket;
  /** called once, at the first byte after the claim (time to first byte) */
  firstByte?: () => void;
}

export class ReadSlot {
  readonly #small = Buffer.allocUnsafe(SMALL_BYTES);
  #buf: Buffer = this.#small;
  #socket: Socket | undefined;
  #sink: ReadSink | undefined;
  /** a write still holds #buf: no read may go into it */
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
    socket.once('close', this.#release);
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
    sink.to.write(bytes, this.#written);
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

  /** The buffer for the next read: large after a read that filled the buffer, small after a small one. */
  #next(): Buffer {
    if (this.#held) return this.#buf;
    if (this.#buf === this.#small) {
      if (this.#last === SMALL_BYTES) this.#buf = freeList.pop() ?? Buffer.allocUnsafe(LARGE_BYTES);
    } else if (this.#last < SMALL_BYTES) {
      this.#giveBack();
    }
    return this.#buf;
  }

  /** Returns the large buffer to the free list (the socket is done with it: closed, or reads are small). */
  #giveBack(): void {
    if (this.#buf !== this.#small && freeList.length < FREE_LIST_MAX) freeList.push(this.#buf);
    this.#buf = this.#small;
  }

  /** When the socket closes: its large buffer, unless a write still holds it, goes back for reuse. */
  readonly #release = (): void => {
    if (!this.#held) this.#giveBack();
  };
}
