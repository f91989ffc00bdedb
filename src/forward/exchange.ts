// One request/response exchange on an upstream connection, through undici's handler interface
// (no intermediate streams): the response goes to the client's answer as it arrives, and the
// upstream read pauses while the client's socket is full.
//
//   request ──► dispatcher (pooled upstream connection) ──► origin
//   answer  ◄── head, data (backpressured), end ◄──────────── origin
import type { Dispatcher } from 'undici';
import { classify, ProxyError } from '../errors.js';
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';
import { flattenHeaders } from '../protocol/http-headers.js';

/**
 * Resolves when the whole response has been handed to the answer; rejects with a classified error.
 * `refuses` turns a response status into a failure of the hop instead (an upstream proxy's 407).
 */
export function exchange(
  dispatcher: Dispatcher, request: HttpRequest, answer: HttpAnswer, responseTimeoutMs: number,
  refuses?: (status: number) => ProxyError | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let paused = false;
    dispatcher.dispatch({
      origin: request.origin,
      path: request.path,
      method: request.method,
      headers: request.headers,
      body: request.body,
    }, {
      onRequestStart(controller) {
        // the answer closed before the exchange ended: the client left, or proxyd answered it itself
        const abandon = () => settled || controller.abort(new ProxyError('reset', 'client connection closed mid-exchange', undefined, 'client'));
        if (answer.closed) abandon();
        else answer.onClose(abandon);
      },
      onResponseStart(controller, statusCode, headers) {
        if (statusCode < 200) return; // 1xx informational: not passed on
        const refused = refuses?.(statusCode);
        if (refused) return controller.abort(refused);
        try {
          answer.head(statusCode, flattenHeaders(headers));
        } catch (err) {
          // a header Node will not send (a value with a forbidden character): fail this exchange only
          return controller.abort(new ProxyError('protocol', `origin response not forwardable: ${(err as Error).message}`, undefined, 'origin'));
        }
        // 'drain' can fire inside our own write (Node flushing a queued pipelined response), i.e.
        // inside undici's parser, which must not be resumed from there: resume on the next tick
        answer.onDrain(() => {
          if (!paused) return;
          paused = false;
          process.nextTick(() => settled || controller.resume());
        });
      },
      onResponseData(controller, chunk) {
        if (!answer.write(chunk) && !paused) {
          paused = true;
          controller.pause();
        }
      },
      onResponseEnd() {
        settled = true;
        answer.end();
        resolve();
      },
      onResponseError(_controller, err) {
        settled = true;
        const code = (err as { code?: string }).code;
        if (code === 'UND_ERR_HEADERS_TIMEOUT') {
          return reject(new ProxyError('timeout', `${request.origin} sent no response within ${responseTimeoutMs} ms`, code, 'origin'));
        }
        if (code === 'UND_ERR_BODY_TIMEOUT') {
          return reject(new ProxyError('timeout', `${request.origin} sent no response bytes for ${responseTimeoutMs} ms`, code, 'origin'));
        }
        reject(classify(err, 'origin'));
      },
    });
  });
}
