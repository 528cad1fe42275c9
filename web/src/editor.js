// The Monaco editor with only what the playground needs: the editor's
// features and the highlighting of the languages Monaco runs. Its one web
// worker is bundled by Vite (`?worker`), so the editor never falls back to
// running it on the page's thread.

import * as monaco from 'monaco-editor/esm/vs/editor/edcore.main.js';
import 'monaco-editor/esm/vs/basic-languages/python/python.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/cpp/cpp.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/java/java.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/javascript/javascript.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/typescript/typescript.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/go/go.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/rust/rust.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/ruby/ruby.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/shell/shell.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/kotlin/kotlin.contribution.js';
import 'monaco-editor/esm/vs/basic-languages/csharp/csharp.contribution.js';
import EditorWorker from 'monaco-editor/esm/vs/editor/editor.worker.js?worker';

self.MonacoEnvironment = {
  getWorker() {
    return new EditorWorker();
  },
};

// Monaco's language ids that differ from the editor's.
const ALIASES = { node: 'javascript', js: 'javascript', ts: 'typescript', 'c++': 'cpp', golang: 'go', bash: 'shell', sh: 'shell' };

/** The editor's language for a Monaco language id (plain text if none). */
export function editorLanguage(id, api = monaco) {
  const known = new Set(api.languages.getLanguages().map((l) => l.id));
  const candidate = ALIASES[id] ?? id;
  return known.has(candidate) ? candidate : 'plaintext';
}

export { monaco };
