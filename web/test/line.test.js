// The terminal's line discipline and the shareable address, without a
// browser (node's test runner: `npm test` in web/).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineDiscipline } from '../src/line.js';
import { readShared, shareUrl } from '../src/share.js';

function discipline() {
  const io = { echoed: '', sent: [], interrupts: 0 };
  const line = new LineDiscipline({
    echo: (t) => (io.echoed += t),
    send: (f) => io.sent.push(f),
    interrupt: () => io.interrupts++,
  });
  return { line, io };
}

test('a line is echoed as typed and sent on Enter', () => {
  const { line, io } = discipline();
  line.feed('Ad');
  line.feed('a');
  assert.deepEqual(io.sent, []);
  line.feed('\r');
  assert.deepEqual(io.sent, [{ type: 'input', content: 'Ada' }]);
  assert.equal(io.echoed, 'Ada\r\n');
});

test('Backspace and Ctrl-U edit the line; escape sequences do nothing', () => {
  const { line, io } = discipline();
  line.feed('Bob');
  line.feed('\x7f');
  line.feed('\x1b[D');
  line.feed('é\x7f\x7fx\r');
  assert.deepEqual(io.sent, [{ type: 'input', content: 'Bx' }]);
  line.feed('junk\x15ok\r');
  assert.deepEqual(io.sent[1], { type: 'input', content: 'ok' });
});

test('a paste of several lines sends each', () => {
  const { line, io } = discipline();
  line.feed('one\ntwo\r');
  assert.deepEqual(io.sent, [
    { type: 'input', content: 'one' },
    { type: 'input', content: 'two' },
  ]);
});

test('Ctrl-D flushes the partial line, then ends the input; Ctrl-C interrupts', () => {
  const { line, io } = discipline();
  line.feed('par');
  line.feed('\x04');
  assert.deepEqual(io.sent, [{ type: 'stdin', content: 'par' }, { type: 'eof' }]);
  line.feed('\x04');
  assert.deepEqual(io.sent.at(-1), { type: 'eof' });
  assert.equal(io.sent.length, 3, 'an empty line sends only eof');
  line.feed('x\x03y');
  assert.equal(io.interrupts, 1);
  line.feed('\r');
  assert.deepEqual(io.sent.at(-1), { type: 'input', content: '' }, 'Ctrl-C dropped the line');
});

test('a shared address carries the code exactly', () => {
  const code = 'print("ünïcode ✓")\n\t# + / = ?&#\n';
  const url = shareUrl('http://127.0.0.1:8080/?x=1#old', { language: 'python', code });
  assert.ok(url.startsWith('http://127.0.0.1:8080/?x=1#lang=python&code='), url);
  assert.deepEqual(readShared(url), { language: 'python', code });
  assert.equal(readShared('http://127.0.0.1:8080/'), null);
  assert.equal(readShared('http://127.0.0.1:8080/#lang=c&code=%%%'), null);
});
