// stream.js -- the event stream (GET /v1/events, text/event-stream) read
// with fetch, so the token goes in the Authorization header (EventSource
// cannot send one, and a token in a URL would land in logs). Reconnects
// with a growing delay when the stream drops; the caller is told of every
// state change so the page can say "reconnecting".

import { headers, path } from './api.js';

export function openStream({ onEvent, onState }) {
  let stopped = false;
  let ctrl = null;
  let delay = 500;

  async function once() {
    ctrl = new AbortController();
    const res = await fetch(path('/v1/events'), {
      headers: headers({ Accept: 'text/event-stream' }),
      cache: 'no-store', credentials: 'omit', signal: ctrl.signal,
    });
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
    onState('open');
    delay = 500;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let type = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // comment, keep-alive
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') type = val;
          else if (field === 'data') data.push(val);
        }
        if (data.length) {
          try { onEvent(type, JSON.parse(data.join('\n'))); } catch (e) { /* not JSON */ }
        }
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
        if (!stopped) onState('dropped');
      } catch (e) {
        if (!stopped) onState('down', e);
      }
      if (stopped) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();

  return { close() { stopped = true; if (ctrl) ctrl.abort(); } };
}
