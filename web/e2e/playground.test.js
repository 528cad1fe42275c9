// The playground page in a real browser (Debian's Chromium, driven by
// playwright-core) against the real server: `MONACO_URL` names it
// (scripts/test-browser.sh starts one on a free loopback port). Real
// containers run every program. Screenshots go to `MONACO_E2E_ARTIFACTS`.
//
// Code goes into the editor through its model (`window.playground.editor`,
// exactly what typing would leave there, without the editor's
// auto-closing of brackets); everything else is clicks and keystrokes.

import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.MONACO_URL;
if (!BASE) throw new Error('MONACO_URL is not set: run scripts/test-browser.sh');
const ARTIFACTS = process.env.MONACO_E2E_ARTIFACTS ?? 'artifacts';
const CHROMIUM = process.env.MONACO_CHROMIUM ?? '/usr/bin/chromium';
// Generous: a cold JVM compile on a loaded 2-core machine.
const RUN_TIMEOUT = 90_000;

let browser;
let context;
let page;
let problems;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // playwright-core gives the browser a new, empty profile directory of
  // its own (and removes it on close).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/** A fresh page (empty storage) that records console errors and page errors. */
async function open(url = BASE) {
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  return page;
}

beforeEach(() => {
  problems = [];
});

afterEach(async (t) => {
  if (page) {
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) }).catch(() => {});
  }
  const seen = problems;
  await context?.close();
  context = undefined;
  page = undefined;
  assert.deepEqual(seen, [], 'no console errors, page errors or failed requests');
});

const byId = (id) => page.locator(`[data-testid="${id}"]`);

async function setCode(code) {
  await page.evaluate((c) => window.playground.editor.setValue(c), code);
}

async function editorCode() {
  return page.evaluate(() => window.playground.editor.getValue());
}

async function terminalText() {
  return byId('terminal').locator('.xterm-rows').innerText();
}

async function waitForTerminal(text, timeout = RUN_TIMEOUT) {
  try {
    await page.waitForFunction(
      (t) => document.querySelector('[data-testid="terminal"] .xterm-rows')?.innerText.includes(t),
      text,
      { timeout },
    );
  } catch (e) {
    throw new Error(`${JSON.stringify(text)} never reached the terminal: ${await pageState()}`, { cause: e });
  }
}

/** What the page shows, for a failure's message: the terminal's text, the
 * verdict, the status line and whether the page waits for input. */
async function pageState() {
  return page
    .evaluate(() => {
      const text = (sel) => document.querySelector(sel)?.innerText ?? '(none)';
      return JSON.stringify({
        terminal: text('[data-testid="terminal"] .xterm-rows').trimEnd(),
        verdict: text('[data-testid="verdict"]'),
        status: text('[data-testid="status"]'),
        waiting: !document.querySelector('[data-testid="waiting"]')?.hidden,
        focused: document.activeElement?.className ?? null,
      });
    })
    .catch((e) => `(the page could not be read: ${e.message})`);
}

async function waitForVerdict(timeout = RUN_TIMEOUT) {
  await page.waitForFunction(() => document.querySelector('[data-testid="verdict"]')?.textContent !== '', null, {
    timeout,
  });
  return byId('verdict').textContent();
}

const GREETERS = {
  python: 'name = input("Your name: ")\nprint(f"Hello, {name}!")\n',
  c: '#include <stdio.h>\nint main(void) {\n    char name[64];\n    printf("Your name: ");\n    if (scanf("%63s", name) != 1) return 1;\n    printf("Hello, %s!\\n", name);\n    return 0;\n}\n',
  java:
    'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        System.out.print("Your name: ");\n        System.out.flush();\n        String name = new Scanner(System.in).nextLine();\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
};

for (const [language, code] of Object.entries(GREETERS)) {
  test(`${language}: a prompt without a newline, an answer typed in the terminal, the greeting and verdict ok`, async () => {
    await open();
    await byId('language').selectOption(language);
    // Switching loads the language's hello world (nothing was edited).
    const hello = await page.evaluate(
      async (id) => (await (await fetch('/api/languages')).json()).find((l) => l.id === id).helloWorld,
      language,
    );
    assert.equal(await editorCode(), hello, 'the hello world of the language picked');
    await setCode(code);
    await byId('run').click();
    await waitForTerminal('Your name: ');
    await byId('waiting').waitFor({ state: 'visible', timeout: RUN_TIMEOUT });
    assert.equal(await byId('verdict').textContent(), '', 'no verdict while the program waits');
    await byId('terminal').click();
    await page.keyboard.type('Ada');
    await page.keyboard.press('Enter');
    await waitForTerminal('Hello, Ada!');
    assert.equal(await waitForVerdict(), 'ok');
    const measured = await byId('measurements').textContent();
    assert.match(measured, /exit 0/);
    assert.match(measured, /wall \d+ ms/);
    assert.match(measured, /CPU \d+ ms/);
    assert.match(measured, /memory [\d.]+ (B|KiB|MiB)/);
    assert.equal(await byId('waiting').isVisible(), false, 'no longer waiting');
    // The typed answer was echoed once, as a terminal does.
    const text = await terminalText();
    assert.equal(text.split('Ada').length - 1, 2, `echo + greeting in ${JSON.stringify(text)}`);
    if (language === 'c' && process.env.MONACO_E2E_README_SHOT) {
      await page.setViewportSize({ width: 1100, height: 520 });
      await page.screenshot({ path: process.env.MONACO_E2E_README_SHOT });
    }
  });
}

test('a compile error shows the compiler message and verdict compile_error', async () => {
  await open();
  await byId('language').selectOption('c');
  await setCode('int main(void) {\n    return undefined_name;\n}\n');
  await byId('run').click();
  assert.equal(await waitForVerdict(), 'compile_error');
  const message = await byId('compile-output').textContent();
  assert.match(message, /undefined_name/);
  assert.match(message, /error/);
  assert.equal(await byId('compile-output').isVisible(), true);
  await waitForTerminal('undefined_name');
});

test('an infinite loop stopped with Stop is cancelled', async () => {
  await open();
  await byId('language').selectOption('python');
  await setCode('import time\nprint("looping", flush=True)\nwhile True:\n    time.sleep(0.01)\n');
  await byId('run').click();
  await waitForTerminal('looping');
  assert.equal(await byId('stop').isEnabled(), true);
  await byId('stop').click();
  assert.equal(await waitForVerdict(), 'cancelled');
  assert.equal(await byId('run').isEnabled(), true, 'Run is back');
  assert.equal(await byId('stop').isEnabled(), false);
  // Ctrl-C in the terminal stops it too.
  await byId('run').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="verdict"]')?.textContent === '');
  await waitForTerminal('looping');
  await byId('terminal').click();
  await page.keyboard.press('Control+C');
  assert.equal(await waitForVerdict(), 'cancelled');
  await waitForTerminal('^C');
});

test('the API key is kept and sent as a bearer token', async () => {
  await open();
  await byId('api-key').fill('mk_test_key');
  const submitted = page.waitForRequest((r) => r.url().endsWith('/api/submit'));
  await byId('language').selectOption('python');
  await setCode('print("keyed")\n');
  await byId('run').click();
  assert.equal((await submitted).headers().authorization, 'Bearer mk_test_key');
  assert.equal(await waitForVerdict(), 'ok');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await byId('api-key').inputValue(), 'mk_test_key');
});

test('light and dark follow the system', async () => {
  await open();
  await page.emulateMedia({ colorScheme: 'light' });
  await page.waitForSelector('[data-testid="editor"] .monaco-editor.vs');
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForSelector('[data-testid="editor"] .monaco-editor.vs-dark');
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(light, dark);
});

test('Ctrl-D ends the input; stderr is told apart; Ctrl/Cmd-Enter runs', async () => {
  await open();
  await byId('language').selectOption('python');
  await setCode(
    'import sys\nprint("ready", flush=True)\ndata = sys.stdin.read()\nprint("got", len(data.split()), "words")\nprint("to stderr", file=sys.stderr)\n',
  );
  await page.locator('[data-testid="editor"] .monaco-editor').click();
  await page.keyboard.press('Control+Enter');
  await waitForTerminal('ready');
  await byId('waiting').waitFor({ state: 'visible', timeout: RUN_TIMEOUT });
  await byId('terminal').click();
  await page.keyboard.type('one two');
  await page.keyboard.press('Enter');
  await page.keyboard.type('three');
  await page.keyboard.press('Control+D');
  await waitForTerminal('got 3 words');
  assert.equal(await waitForVerdict(), 'ok');
  await waitForTerminal('to stderr');
  // xterm's DOM renderer gives coloured text a class of its colour.
  const red = await byId('terminal')
    .locator('.xterm-rows span[class*="xterm-fg-1"]')
    .filter({ hasText: 'to stderr' })
    .count();
  assert.ok(red > 0, 'stderr is shown in red');
});

test('the stdin box runs the program non-interactively', async () => {
  await open();
  await byId('language').selectOption('python');
  await setCode('print(input()[::-1])\n');
  await page.locator('#stdin-box summary').click();
  await byId('stdin').fill('olleh');
  await byId('run').click();
  assert.equal(await waitForVerdict(), 'ok');
  await waitForTerminal('hello');
});

test('test cases: each case gets its verdict', async () => {
  await open();
  await byId('language').selectOption('python');
  await setCode('a, b = map(int, input().split())\nprint(a + b)\n');
  await page.locator('#tests-box summary').click();
  for (const [input, expected] of [
    ['1 2', '3'],
    ['2 2', '5'],
  ]) {
    await byId('add-test').click();
    const row = page.locator('.case').last();
    await row.locator('.case-input').fill(input);
    await row.locator('.case-expected').fill(expected);
  }
  await byId('run').click();
  assert.equal(await waitForVerdict(), 'wrong_answer');
  assert.match(await byId('test-verdict-0').textContent(), /^ok/);
  assert.match(await byId('test-verdict-1').textContent(), /^wrong_answer/);
  assert.match(await byId('measurements').textContent(), /1\/2 cases passed/);
});

test('a shared link reopens the same code and language; a reload keeps the last code', async () => {
  await open();
  const code = '# shared — ünïcode\nprint("shared", 6 * 7)\n';
  await byId('language').selectOption('python');
  await setCode(code);
  await byId('language').selectOption('javascript');
  assert.equal(await editorCode(), code, 'edited code is kept when switching');
  await byId('share').click();
  await page.waitForFunction(() => location.hash.includes('code='));
  const link = page.url();
  // Another browser profile (no storage) opens the link.
  await context.close();
  await open(link);
  assert.equal(await editorCode(), code);
  assert.equal(await byId('language').inputValue(), 'javascript');
  // Without the link, a reload brings back the last code from storage.
  await setCode('console.log("last")\n');
  await page.waitForFunction(() => localStorage.getItem('monaco.playground.last')?.includes('last'));
  await page.goto(BASE);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await editorCode(), 'console.log("last")\n');
});
