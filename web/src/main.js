// Monaco's playground: pick a language, write code, Run, watch the output
// stream into a terminal and type into the running program.
//
// Talks to the server it is served from: `GET /api/languages`,
// `POST /api/submit`, the terminal WebSocket `/api/ws/terminal/{id}`
// (README, "WebSocket frames") and `DELETE /api/executions/{id}` to stop.

import './style.css';
import '@xterm/xterm/css/xterm.css';
import { monaco, editorLanguage } from './editor.js';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { LineDiscipline } from './line.js';
import { readShared, shareUrl } from './share.js';

const $ = (id) => document.getElementById(id);
const ui = {
  language: $('language'),
  run: $('run'),
  stop: $('stop'),
  share: $('share'),
  apiKey: $('api-key'),
  phase: $('phase'),
  verdict: $('verdict'),
  measurements: $('measurements'),
  waiting: $('waiting'),
  compileOutput: $('compile-output'),
  stdin: $('stdin'),
  stdinBox: $('stdin-box'),
  tests: $('tests'),
  testsBox: $('tests-box'),
  testsSummary: $('tests-summary'),
  addTest: $('add-test'),
};

const STORE_CODE = 'monaco.playground.last';
const STORE_KEY = 'monaco.playground.apiKey';

// ---- theme: light and dark follow the system ----
const dark = window.matchMedia('(prefers-color-scheme: dark)');
const termThemes = {
  light: { background: '#ffffff', foreground: '#1f2328', cursor: '#1f2328', selectionBackground: '#b6d4fe', red: '#cf222e' },
  dark: { background: '#0d1117', foreground: '#e6edf3', cursor: '#e6edf3', selectionBackground: '#264f78', red: '#ff7b72' },
};

// ---- terminal ----
const term = new Terminal({
  convertEol: true,
  cursorBlink: true,
  fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
  fontSize: 13,
  scrollback: 5000,
  theme: dark.matches ? termThemes.dark : termThemes.light,
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open($('terminal'));
const refit = () => {
  try {
    fit.fit();
  } catch {
    // Not laid out yet.
  }
};
new ResizeObserver(refit).observe($('terminal'));
refit();

// ---- editor ----
const editor = monaco.editor.create($('editor'), {
  value: '',
  language: 'plaintext',
  automaticLayout: true,
  minimap: { enabled: false },
  fontSize: 14,
  scrollBeyondLastLine: false,
  theme: dark.matches ? 'vs-dark' : 'vs',
  tabSize: 4,
});
dark.addEventListener('change', () => {
  monaco.editor.setTheme(dark.matches ? 'vs-dark' : 'vs');
  term.options.theme = dark.matches ? termThemes.dark : termThemes.light;
});
// For scripts driving the page (its browser tests among them).
window.playground = { editor, monaco, term };

// ---- state ----
let languages = [];
let current = null; // the execution running: { id, ws, done }
const line = new LineDiscipline({
  echo: (text) => term.write(text),
  send: (frame) => current?.ws?.readyState === WebSocket.OPEN && current.ws.send(JSON.stringify(frame)),
  interrupt: () => {
    term.write('^C\r\n');
    stop();
  },
});
term.onData((data) => {
  if (!current || current.done) return;
  if (!current.interactive) {
    // Its stdin is given: the keyboard can only interrupt it.
    if (data.includes('\x03')) line.feed('\x03');
    return;
  }
  line.feed(data);
  if (data.includes('\r') || data.includes('\x04')) setWaiting(false);
});

function headers(json) {
  const h = {};
  if (json) h['content-type'] = 'application/json';
  const key = ui.apiKey.value.trim();
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

function language(id) {
  return languages.find((l) => l.id === id);
}

function setLanguage(id, code) {
  ui.language.value = id;
  const model = editor.getModel();
  monaco.editor.setModelLanguage(model, editorLanguage(id, monaco));
  if (code !== undefined) editor.setValue(code);
  remember();
}

let rememberTimer = null;
function remember() {
  clearTimeout(rememberTimer);
  rememberTimer = setTimeout(() => {
    const state = { language: ui.language.value, code: editor.getValue() };
    try {
      localStorage.setItem(STORE_CODE, JSON.stringify(state));
    } catch {
      // Storage full or refused: the URL still carries the code.
    }
    history.replaceState(null, '', shareUrl(location.href, state));
  }, 250);
}

// ---- status line ----
function setPhase(text, state = 'running') {
  ui.phase.textContent = text;
  ui.phase.dataset.state = state;
}

function setWaiting(on) {
  // Answered: the program runs again.
  if (!on && !ui.waiting.hidden && current && !current.done) setPhase('running');
  ui.waiting.hidden = !on;
  document.body.classList.toggle('waiting-input', on);
}

function clearStatus() {
  ui.verdict.textContent = '';
  ui.verdict.removeAttribute('data-verdict');
  ui.measurements.textContent = '';
  ui.compileOutput.hidden = true;
  ui.compileOutput.textContent = '';
  setWaiting(false);
}

function bytes(n) {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} B`;
}

const SIGNALS = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 8: 'SIGFPE', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ' };

function measurements(o) {
  const parts = [];
  if (o.signal != null) parts.push(`signal ${o.signal}${SIGNALS[o.signal] ? ` (${SIGNALS[o.signal]})` : ''}`);
  else if (o.exitCode != null) parts.push(`exit ${o.exitCode}`);
  if (o.executionTime != null) parts.push(`wall ${o.executionTime} ms`);
  if (o.cpu != null) parts.push(`CPU ${o.cpu} ms`);
  if (o.memory != null) parts.push(`memory ${bytes(o.memory)}`);
  if (o.truncated) parts.push('output truncated');
  return parts.join(' · ');
}

function showOutcome(o, compileOutput) {
  const verdict = o.verdict ?? 'internal_error';
  ui.verdict.textContent = verdict;
  ui.verdict.dataset.verdict = verdict;
  let text = measurements(o);
  if (o.error && verdict !== 'cancelled') text = [text, `${o.error.message} (${o.error.code})`].filter(Boolean).join(' · ');
  if (testCases.length && current?.cases) {
    const passed = current.cases.filter((c) => c === 'ok').length;
    text = [`${passed}/${testCases.length} cases passed`, text].filter(Boolean).join(' · ');
  }
  ui.measurements.textContent = text;
  if (verdict === 'compile_error') {
    ui.compileOutput.textContent = compileOutput || o.compileOutput || '(the compiler printed nothing)';
    ui.compileOutput.hidden = false;
  }
  setPhase(o.status ?? 'finished', 'done');
}

function showError(what, code, message) {
  setPhase(what, 'error');
  ui.measurements.textContent = code ? `${message} (${code})` : message;
}

// ---- test cases ----
let testCases = [];

function renderTests() {
  ui.tests.replaceChildren(
    ...testCases.map((c, i) => {
      const row = document.createElement('div');
      row.className = 'case';
      row.dataset.testid = `test-${i}`;
      row.innerHTML = `
        <div class="case-head"><input class="case-name" placeholder="case ${i + 1}" aria-label="Case name">
          <span class="case-verdict" data-testid="test-verdict-${i}"></span>
          <button class="case-remove" title="Remove this case" aria-label="Remove">✕</button></div>
        <div class="case-io"><textarea class="case-input" rows="2" placeholder="input" spellcheck="false"></textarea>
          <textarea class="case-expected" rows="2" placeholder="expected output (optional)" spellcheck="false"></textarea></div>`;
      const [name, input, expected] = ['.case-name', '.case-input', '.case-expected'].map((s) => row.querySelector(s));
      name.value = c.name;
      input.value = c.input;
      expected.value = c.expected;
      name.oninput = () => (c.name = name.value);
      input.oninput = () => (c.input = input.value);
      expected.oninput = () => (c.expected = expected.value);
      row.querySelector('.case-remove').onclick = () => {
        testCases.splice(i, 1);
        renderTests();
      };
      return row;
    }),
  );
  ui.testsSummary.textContent = testCases.length ? `(${testCases.length}: the run is graded)` : '';
}

function caseVerdict(index, text, verdict) {
  const el = ui.tests.querySelector(`[data-testid="test-verdict-${index}"]`);
  if (!el) return;
  el.textContent = text;
  if (verdict) el.dataset.verdict = verdict;
  else el.removeAttribute('data-verdict');
}

ui.addTest.onclick = () => {
  testCases.push({ name: '', input: '', expected: '' });
  ui.testsBox.open = true;
  renderTests();
};

// ---- running ----
function setRunning(on) {
  ui.run.disabled = on || !languages.length;
  ui.stop.disabled = !on;
}

function finish() {
  if (!current || current.done) return;
  current.done = true;
  setRunning(false);
  setWaiting(false);
  line.reset();
  const ws = current.ws;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
}

async function run() {
  if (current && !current.done) return;
  const lang = ui.language.value;
  if (!lang) return;
  const body = { language: lang, code: editor.getValue() };
  const stdin = ui.stdin.value;
  if (testCases.length) {
    body.tests = testCases.map((c, i) => {
      const t = { name: c.name || `case ${i + 1}`, input: c.input };
      if (c.expected !== '') t.expectedOutput = c.expected;
      return t;
    });
    testCases.forEach((_, i) => caseVerdict(i, '', null));
  } else if (stdin !== '') {
    body.input = stdin;
  }
  term.reset();
  clearStatus();
  setPhase('submitting…');
  const exec = { id: null, ws: null, done: false, compile: '', cases: testCases.map(() => null), interactive: body.input === undefined && !body.tests };
  current = exec;
  setRunning(true);
  let response;
  let answer;
  try {
    response = await fetch('/api/submit', { method: 'POST', headers: headers(true), body: JSON.stringify(body) });
    answer = await response.json();
  } catch (e) {
    exec.done = true;
    setRunning(false);
    showError('could not submit', null, `The server did not answer: ${e.message}`);
    return;
  }
  if (!response.ok) {
    exec.done = true;
    setRunning(false);
    const err = answer?.error ?? {};
    const hint = response.status === 401 ? ' — set an API key' : '';
    showError('refused', err.code, `${err.message ?? `HTTP ${response.status}`}${hint}`);
    return;
  }
  exec.id = answer.id;
  setPhase('queued');
  attach(exec, answer.terminalToken);
  // Stop pressed while the submission was on its way.
  if (exec.stopRequested) stop();
  if (exec.interactive) term.focus();
}

function attach(exec, token) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const ws = new WebSocket(`${scheme}://${location.host}/api/ws/terminal/${exec.id}${query}`);
  exec.ws = ws;
  ws.onmessage = (event) => {
    if (exec !== current) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    onFrame(exec, frame);
  };
  ws.onclose = () => {
    // The final `status` frame decides; a socket that closed before it
    // (a proxy, a restart) is answered by the result.
    if (exec === current && !exec.done) fetchResult(exec);
  };
}

async function fetchResult(exec) {
  try {
    const response = await fetch(`/api/result/${exec.id}`, { headers: headers(false) });
    const result = await response.json();
    if (response.ok && result.verdict) {
      showOutcome(result, result.compileOutput);
      finish();
      return;
    }
    if (!response.ok) {
      showError('lost', result?.error?.code, result?.error?.message ?? `HTTP ${response.status}`);
      finish();
      return;
    }
  } catch {
    // Fall through: say the connection was lost.
  }
  if (!exec.done) {
    showError('connection lost', null, 'The terminal closed before the execution ended');
    finish();
  }
}

function onFrame(exec, frame) {
  const c = frame.content;
  switch (frame.type) {
    case 'status':
      if (c && 'verdict' in c) {
        showOutcome(c, exec.compile);
        finish();
      } else if (c?.status) {
        setPhase(c.status);
      }
      break;
    case 'system':
      if (typeof c === 'string' && !exec.done) setPhase(c);
      break;
    case 'output': {
      if (c.step === 'compile') exec.compile += c.text;
      const text = c.text;
      term.write(c.isError ? `\x1b[31m${text}\x1b[0m` : text);
      if (text) setWaiting(false);
      break;
    }
    case 'input_prompt':
      setWaiting(true);
      setPhase('waiting for input');
      term.focus();
      break;
    case 'test': {
      const name = testCases[c.index]?.name || `case ${c.index + 1}`;
      if (c.status === 'running') {
        term.write(`\x1b[2m── ${name} ──\x1b[0m\r\n`);
        caseVerdict(c.index, 'running…', null);
      } else {
        exec.cases[c.index] = c.verdict;
        const time = c.status === 'skipped' ? '' : ` · ${c.wallMs} ms`;
        caseVerdict(c.index, `${c.verdict}${time}`, c.verdict);
        if (c.checkerMessage) term.write(`\x1b[2m${c.checkerMessage}\x1b[0m\r\n`);
      }
      break;
    }
    case 'error':
      term.write(`\r\n\x1b[33m[${c.errorType}] ${c.message}\x1b[0m\r\n`);
      break;
    default:
      break;
  }
}

async function stop() {
  const exec = current;
  if (!exec || exec.done) return;
  if (!exec.id) {
    exec.stopRequested = true;
    return;
  }
  setPhase('stopping…');
  try {
    await fetch(`/api/executions/${exec.id}`, { method: 'DELETE', headers: headers(false) });
  } catch {
    // The socket's final status frame, or its close, still ends the run.
  }
}

// ---- wiring ----
ui.run.onclick = run;
ui.stop.onclick = stop;
editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, run);
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
    e.preventDefault();
    run();
  }
});
editor.onDidChangeModelContent(remember);
ui.language.onchange = () => {
  const lang = language(ui.language.value);
  // Code is "edited" unless it is empty or some language's hello world.
  const code = editor.getValue();
  const untouched = code.trim() === '' || languages.some((l) => l.helloWorld === code);
  setLanguage(ui.language.value, untouched && lang ? lang.helloWorld : undefined);
};
ui.share.onclick = async () => {
  const url = shareUrl(location.href, { language: ui.language.value, code: editor.getValue() });
  history.replaceState(null, '', url);
  try {
    await navigator.clipboard.writeText(url);
    ui.share.textContent = 'Link copied';
  } catch {
    ui.share.textContent = 'Link in the address bar';
  }
  setTimeout(() => (ui.share.textContent = 'Share'), 2000);
};
ui.apiKey.value = localStorage.getItem(STORE_KEY) ?? '';
ui.apiKey.oninput = () => localStorage.setItem(STORE_KEY, ui.apiKey.value);
// A server with API keys may refuse the languages until a key is given.
ui.apiKey.onchange = () => {
  if (!languages.length) start();
};

async function start() {
  setPhase('loading languages…', 'idle');
  try {
    const response = await fetch('/api/languages', { headers: headers(false) });
    const list = await response.json();
    if (!response.ok) {
      const hint = response.status === 401 ? ' — set an API key' : '';
      throw new Error(`${list?.error?.message ?? `HTTP ${response.status}`}${hint}`);
    }
    languages = list;
  } catch (e) {
    showError('no languages', null, `Could not read /api/languages: ${e.message}`);
    return;
  }
  ui.language.replaceChildren(
    ...languages.map((l) => {
      const option = document.createElement('option');
      option.value = l.id;
      option.textContent = l.version && !l.name.includes(l.version) ? `${l.name} — ${l.version}` : l.name;
      return option;
    }),
  );
  const shared = readShared(location.href);
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(STORE_CODE) ?? 'null');
  } catch {
    saved = null;
  }
  const initial = [shared, saved].find((s) => s && language(s.language) && typeof s.code === 'string');
  if (initial) {
    setLanguage(initial.language, initial.code);
  } else {
    const first = language('python') ?? languages[0];
    setLanguage(first.id, first.helloWorld);
  }
  setRunning(false);
  setPhase('ready', 'idle');
  document.body.dataset.ready = 'true';
}

start();
