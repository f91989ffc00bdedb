// Ending a client connection after a last message.
import type { Socket } from 'node:net';

/** how long a client gets to take our last message and close its side */
const CLOSE_GRACE_MS = 2_000;

/**
 * Sends a last message and closes. Whatever else the client sends is discarded, and the socket is
 * destroyed at a hard deadline: a client that trickles bytes cannot keep it open.
 */
export function closeWith(socket: Socket, last: Buffer | string): void {
  socket.end(last);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  socket.once('close', () => clearTimeout(timer));
}
