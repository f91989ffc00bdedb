// The `generic` kind: paths mapped as they are onto each upstream, nothing cached, 404 tries the next.
import type { Protocol } from './protocol.js';

export const GENERIC: Protocol = {
  classify: (rel) => (rel.split('?')[0]!.split('/').includes('..') ? { type: 'invalid', reason: 'a path with ..' } : { type: 'pass' }),
  absent: (status) => status === 404 || status === 410,
  contentType: () => 'application/octet-stream',
};
